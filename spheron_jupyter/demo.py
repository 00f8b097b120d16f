"""README's main job: the whole flow against the embedded emulator, printing what it does.

Until ``examples/quickstart.ipynb`` exists this drives the plain Python layers directly:
start an emulator process, browse offers, launch the cheapest matching one, list, wait for the
minimum runtime, terminate.  Run it with ``./dev demo`` (or ``spheron-jupyter demo``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

HELP = "run the main job: the example against the embedded emulator"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gpu", default="rtx-4090", help="GPU model to look for (default: %(default)s)")
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        help="emulator state directory (default: a fresh temporary directory)",
    )


def _say(text: str) -> None:
    print(text, flush=True)


def run(args: argparse.Namespace) -> int:
    from .client import OfferQuery, SpheronClient, offer_to_create_request
    from .emulator.process import start_emulator

    state = args.state or Path(tempfile.mkdtemp(prefix="spheron-demo-"))
    _say(f"1. Starting the embedded Spheron emulator (state in {state})")
    with start_emulator(state, boot_seconds=1.0, minimum_runtime="3s") as emu:
        _say(f"   emulator at {emu.url}")
        client = SpheronClient(emu.url, emu.api_key)
        team = client.current_team()
        _say(f"   team {team.team_name!r}, balance ${team.balance:,.2f}")

        _say(f"2. Browsing offers for {args.gpu}, cheapest first")
        offers = client.find_offers(OfferQuery(gpu=args.gpu, sort="price"))
        if not offers:
            _say(f"   no available offer for {args.gpu}")
            return 1
        for offer in offers[:5]:
            _say(f"   {offer.provider:<15} {offer.gpu_count}x {offer.gpu_type:<14} ${offer.price:.2f}/h")
        offer = offers[0]

        _say(f"3. Launching {offer.gpu_count}x {offer.gpu_type} from {offer.provider} at ${offer.price:.2f}/h")
        request = offer_to_create_request(
            offer, name=None, team_id=team.team_id, ssh_public_key=_throwaway_public_key()
        )
        instance = client.create_instance(request)
        _say(f"   created {instance.id} named {instance.name!r}, status {instance.status}")
        deadline = time.monotonic() + 60
        while instance.status == "deploying" and time.monotonic() < deadline:
            time.sleep(0.5)
            instance = client.get_instance(instance.id)
        _say(f"   status {instance.status}, ssh {instance.user}@{instance.ip_address} -p {instance.ssh_port}")

        _say("4. Listing instances")
        for listed in client.list_instances():
            _say(f"   {listed.id}  {listed.name:<24} {listed.status:<10} ${listed.hourly_rate or 0:.2f}/h")

        _say("5. Terminating (waiting out the emulator's minimum runtime first)")
        while not client.can_terminate(instance.id).can_terminate:
            time.sleep(0.5)
        client.terminate(instance.id)
        _say(f"   {instance.id} is {client.get_instance(instance.id).status}")
    _say("Done: the emulator has stopped and nothing is left running.")
    return 0


def _throwaway_public_key() -> str:
    # The demo never logs in; the instance only needs some key to authorise.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    public = ed25519.Ed25519PrivateKey.generate().public_key()
    line = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return line.decode() + " spheron-demo"


def main() -> int:
    parser = argparse.ArgumentParser(prog="spheron-jupyter demo", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
