"""The P4 sources, installed as package data ``switchsim.p4``; see `switchsim.resources`."""
