"""Only what both apps truly share: database set-up, configuration, signing, money, errors."""
