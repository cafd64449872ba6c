import pytest

# The servers' fixtures are a plugin imported by the tests too: rewrite its asserts all the same.
pytest.register_assert_rewrite("tests.dataservers.servers")
