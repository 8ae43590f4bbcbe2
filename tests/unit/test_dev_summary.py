"""What `portal-autopay dev` prints once everything is up: no password, a working token."""

from pathlib import Path

import jwt

from services import cli, tokens
from services.common.config import Config
from tests.auth import SECRET


def test_the_summary_masks_the_database_password_and_gives_a_token_for_the_readme(capsys, tmp_path):
    config = Config(
        _env_file=None,
        database_url="postgresql://app:s3cr3t-pw@127.0.0.1:5432/app",
        auth_jwt_secret=SECRET,
    )
    cli._print_summary(config, Path("var"))
    printed = capsys.readouterr().out
    assert "s3cr3t-pw" not in printed and SECRET not in printed
    assert "postgresql://app:***@127.0.0.1:5432/app" in printed
    token = printed.split("export TOKEN=")[1].split()[0]
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["merchant_id"] == "shop-42"
    assert set(claims["scope"].split()) == {"settings:read", "settings:write", "profiles:read"}


def test_dev_keeps_one_secret_under_var_readable_only_by_its_owner(tmp_path):
    first = tokens.dev_secret(tmp_path)
    assert len(first) >= 32 and tokens.dev_secret(tmp_path) == first
    assert (tmp_path / tokens.DEV_SECRET_FILE).stat().st_mode & 0o077 == 0
