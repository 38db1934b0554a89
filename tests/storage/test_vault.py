import pytest

from storage.vault import TokenContext, TokenVault, VaultError, generate_key


def context(user="U1", field="access_token", team="T1"):
    return TokenContext(kind="linkedin_connection", field=field, team_id=team, user_id=user)


def test_vault_round_trip():
    vault = TokenVault(generate_key())
    blob = vault.encrypt("secret-token-value", context())
    assert b"secret-token-value" not in blob
    assert vault.decrypt(blob, context()) == "secret-token-value"


def test_vault_nonce_differs_each_time():
    vault = TokenVault(generate_key())
    assert vault.encrypt("same", context()) != vault.encrypt("same", context())


@pytest.mark.parametrize("other", [context(user="U2"), context(field="refresh_token"), context(team="T2")])
def test_vault_rejects_ciphertext_from_other_row(other):
    vault = TokenVault(generate_key())
    blob = vault.encrypt("secret-token-value", context())
    with pytest.raises(VaultError) as raised:
        vault.decrypt(blob, other)
    assert "secret-token-value" not in str(raised.value)
    assert "another row" in str(raised.value)


def test_vault_old_key_decrypts_and_rotation_detected():
    old_key, new_key = generate_key(), generate_key()
    blob = TokenVault(old_key).encrypt("token", context())
    vault = TokenVault(new_key, [old_key])
    assert vault.needs_rotation(blob)
    rotated = vault.reencrypt(blob, context())
    assert not vault.needs_rotation(rotated)
    assert TokenVault(new_key).decrypt(rotated, context()) == "token"


def test_vault_unknown_key_names_the_variable():
    blob = TokenVault(generate_key()).encrypt("token", context())
    with pytest.raises(VaultError, match="TOKEN_ENCRYPTION_OLD_KEYS"):
        TokenVault(generate_key()).decrypt(blob, context())


def test_vault_refuses_empty_plaintext_and_short_key():
    with pytest.raises(ValueError):
        TokenVault(generate_key()).encrypt("", context())
    with pytest.raises(ValueError):
        TokenVault(b"short")


def test_vault_repr_has_no_key_material():
    key = generate_key()
    assert key.hex() not in repr(TokenVault(key))
