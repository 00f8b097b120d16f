"""ICL documents shared by the rules tests."""

#: Valid in both modes (provider, as written, and fizz): one service "web" on 8080, exposed
#: globally, in region us-west.  Copy it before changing it.
BASE = {
    "version": "1.0",
    "services": {"web": {"image": "nginx:1.27", "expose": [{"port": 8080, "as": 8080, "to": [{"global": True}]}]}},
    "profiles": {
        "duration": "1h",
        "mode": "provider",
        "tiers": ["community"],
        "compute": {"web": {"resources": {"cpu": {"units": 2}, "memory": {"size": "4Gi"}, "storage": [{"size": "10Gi"}]}}},
        "placement": {"west": {"attributes": {"region": "us-west"}, "pricing": {"web": {"token": "uSPON", "amount": 3}}}},
    },
    "deployment": {"web": {"west": {"profile": "web", "count": 1}}},
}


def resources(doc):
    return doc["profiles"]["compute"]["web"]["resources"]
