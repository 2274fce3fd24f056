"""Shared test helpers: real proxy processes, real boto3 clients, fake credentials."""
