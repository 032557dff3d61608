"""Organisations: employers (by employer number) and dialysis centres. A representative or staff
account belongs to one, and its `organisation` claim says which."""
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .accounts import AccountError
from .storage.models import Organisation

KINDS = ("employer", "dialysis_centre")


class Organisations:
    def __init__(self, database):
        self.database = database

    def create(self, tenant_id: str, kind: str, number: str, name: str) -> dict:
        if kind not in KINDS:
            raise AccountError(f"organisation kind must be one of {KINDS}")
        number, name = (number or "").strip(), (name or "").strip()
        if not number or not name or len(number) > 64 or len(name) > 256:
            raise AccountError("an organisation needs a number (at most 64 characters) and a name")
        row = Organisation(id=str(uuid.uuid4()), tenant_id=tenant_id, kind=kind, number=number, name=name)
        try:
            with self.database.session() as s:
                s.add(row)
        except IntegrityError:
            raise AccountError(f"organisation {number!r} already exists in tenant {tenant_id!r}") from None
        return self.claim(row)

    def find(self, tenant_id: str, number: str) -> Organisation | None:
        with self.database.session() as s:
            return s.scalar(select(Organisation).where(Organisation.tenant_id == tenant_id,
                                                       Organisation.number == number))

    @staticmethod
    def claim(org: Organisation) -> dict:
        return {"number": org.number, "name": org.name, "kind": org.kind}
