"""Tenants: one portal each, with its own issuer, users, clients, keys, policies and branding.

`tenants.loader.load_tenants(directory)` reads `definitions/*.toml`, validates every field
once at start-up (`tenants.defaults` documents each setting) and returns `Tenant` objects.
"""
from .model import Tenant, TenantConfigError
from .loader import load_tenants, default_tenants_dir

__all__ = ["Tenant", "TenantConfigError", "load_tenants", "default_tenants_dir"]
