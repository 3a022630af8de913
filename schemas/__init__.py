"""TFDV schemas and the saved taxonomy, shipped as package data."""
