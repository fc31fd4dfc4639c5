pytest_plugins = ["tests.samba_fixture"]
