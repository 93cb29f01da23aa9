"""The shipped scenarios (TOML), installed as package data ``switchsim.scenarios``; see `switchsim.resources`."""
