"""How kassa's processes run and are watched: serving an app under gunicorn, supervising child
processes, and the metrics, request ids and log lines both apps give their operators.
"""
