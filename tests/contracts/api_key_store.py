"""The `ApiKeyStore` contract, run against every implementation (`test_api_key_store.py`)."""

from __future__ import annotations

from agent_common.auth import ApiKeyStore, Scope


class ApiKeyStoreContract:
    """Subclasses provide the `keys` fixture: an empty store under test."""

    async def test_an_empty_store_has_no_keys(self, keys: ApiKeyStore) -> None:
        assert await keys.any_exist() is False
        assert await keys.list() == []

    async def test_a_created_key_is_found_by_its_secret_and_never_stored(self, keys: ApiKeyStore) -> None:
        created = await keys.create("alice", "acme", "laptop")
        found = await keys.lookup(created.key)
        assert found == created.record
        assert (found.user_id, found.tenant, found.name) == ("alice", "acme", "laptop")
        assert created.key not in found.model_dump_json()
        assert await keys.any_exist() is True

    async def test_unknown_and_malformed_keys_are_not_found(self, keys: ApiKeyStore) -> None:
        created = await keys.create("alice", "acme")
        assert await keys.lookup(created.key[:-1] + ("A" if created.key[-1] != "A" else "B")) is None
        assert await keys.lookup("not a key") is None

    async def test_keys_are_listed_oldest_first_with_their_scopes(self, keys: ApiKeyStore) -> None:
        first = await keys.create("alice", "acme")
        second = await keys.create("bob", "acme", scopes=[Scope.REINDEX])
        assert [r.key_id for r in await keys.list()] == [first.record.key_id, second.record.key_id]
        assert (await keys.list())[1].scopes == (Scope.REINDEX,)

    async def test_a_revoked_key_stops_working_once(self, keys: ApiKeyStore) -> None:
        created = await keys.create("alice", "acme")
        kept = await keys.create("bob", "acme")
        assert await keys.revoke(created.record.key_id) is True
        assert await keys.lookup(created.key) is None
        assert await keys.revoke(created.record.key_id) is False
        assert await keys.lookup(kept.key) == kept.record

    async def test_ping(self, keys: ApiKeyStore) -> None:
        assert await keys.ping() is True
