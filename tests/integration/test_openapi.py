"""Both apps publish their OpenAPI document and answer errors as JSON, never HTML."""


def test_central_openapi_lists_its_endpoints(central_app):
    resp = central_app.test_client().get("/api/openapi.json")
    assert resp.status_code == 200
    paths = resp.json["paths"]
    assert {"/api/v1/sync/push", "/api/v1/sync/changes", "/api/v1/nodes/enroll",
            "/api/v1/reports/sales-by-store"} <= set(paths)


def test_node_openapi_lists_the_sale_endpoint(node_app):
    resp = node_app.test_client().get("/api/openapi.json")
    assert resp.status_code == 200
    assert "/api/v1/sales" in resp.json["paths"]
    assert "post" in resp.json["paths"]["/api/v1/sales"]


def test_central_errors_are_json(central_app):
    client = central_app.test_client()
    for resp, status in [(client.get("/nope"), 404), (client.put("/api/v1/sync/push"), 405)]:
        assert resp.status_code == status
        assert resp.is_json and set(resp.json) >= {"error", "message"}


def test_health(central_app, node_app):
    assert central_app.test_client().get("/health").json["status"] == "ok"
    assert node_app.test_client().get("/health").json["status"] == "ok"
