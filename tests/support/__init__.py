"""Real servers on loopback for the tests: a fake model API, a fake platform, the app itself."""
