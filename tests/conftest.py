pytest_plugins = ["local_hub.fixture"]
