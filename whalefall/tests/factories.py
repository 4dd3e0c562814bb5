"""factory-boy factories for the core models."""

from __future__ import annotations

import factory

from whalefall.choices import DbType, SyncCategory, SyncTrigger
from whalefall.models import Credential, Instance, SyncSession


class CredentialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Credential
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"cred-{n}")
    username = "monitor"

    @factory.post_generation
    def password(obj: Credential, create: bool, extracted: str | None, **kwargs: object) -> None:
        obj.set_password(extracted if extracted is not None else "s3cret-pass")
        if create:
            obj.save()


class InstanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Instance

    name = factory.Sequence(lambda n: f"instance-{n}")
    db_type = DbType.MYSQL
    host = "127.0.0.1"
    credential = factory.SubFactory(CredentialFactory)


class SyncSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncSession

    category = SyncCategory.ACCOUNT
    trigger = SyncTrigger.MANUAL
    created_by = "test"
