"""`portal-autopay emails preview` renders every email so a person can look at them."""

from email import message_from_bytes, policy

import pytest

from services.cli import main


def test_the_preview_command_writes_every_template_in_every_language(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["emails", "preview", "--out", str(tmp_path)])
    assert exit.value.code == 0
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == sorted(
        f"{template}.{locale}.{kind}"
        for template in ("enrolled", "declined", "turned_on", "turned_off")
        for locale in ("en", "fr")
        for kind in ("eml", "html")
    )
    assert str(tmp_path / "declined.fr.eml") in capsys.readouterr().out
    message = message_from_bytes((tmp_path / "declined.fr.eml").read_bytes(), policy=policy.default)
    assert message["Subject"].startswith("AutoPay refusé")
    assert "compte bancaire •••• 6789" in (tmp_path / "declined.fr.html").read_text()
