"""Helpers for keyhole's black-box integration tests (servers, PKI, clients)."""
