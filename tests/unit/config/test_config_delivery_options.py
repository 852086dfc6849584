"""`delivery:` options in config.yaml reach the receivers of the loaded alerting config."""

from watchdog.config.loader import load_config
from watchdog.notify.delivery import receiver_policy


def test_delivery_options_are_attached_to_receivers(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "alerting:\n"
        "  route: {receiver: primary}\n"
        "  receivers:\n"
        "    - {name: primary, webhook_configs: [{url: 'http://127.0.0.1:9/hook'}]}\n"
        "    - {name: backup, webhook_configs: [{url: 'http://127.0.0.1:9/backup'}]}\n"
        "delivery:\n"
        "  primary: {fallback: [backup], retry_deadline: 2m}\n"
    )
    loaded = load_config(str(cfg))
    receivers = {r.name: r for r in loaded.alerting.receivers}
    primary, backup = receiver_policy(receivers["primary"]), receiver_policy(receivers["backup"])
    assert list(primary.fallback) == ["backup"]
    assert primary.retry_deadline == 120.0
    assert list(backup.fallback) == []
