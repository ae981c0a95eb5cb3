#!/usr/bin/env python3
"""An independent check of Rollguard's audit log artefacts, written only from the specs:
C2SP signed-note and tlog-checkpoint, and RFC 6962 / RFC 9162 section 2.1 (inclusion proofs).

Usage: verify_checkpoint.py FIXTURE.json

The fixture holds a verifier key ("vkey"), a signed checkpoint ("checkpoint"), and one event
with its inclusion proof ("event", "index", "proof"). Exit status 0 means the signature, the
checkpoint format and the inclusion proof all verify; 1 means something does not, with the
reason on standard error. Needs only hashlib and the `cryptography` package.
"""

import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

EM_DASH = "\u2014"


class Invalid(Exception):
    pass


def parse_vkey(vkey):
    """name+hex(key id)+base64(0x01 || 32-byte Ed25519 public key)"""
    name, key_id_hex, key_b64 = vkey.split("+", 2)
    raw = base64.b64decode(key_b64, validate=True)
    if len(raw) != 33 or raw[0] != 0x01:
        raise Invalid("vkey is not an Ed25519 key")
    public = raw[1:]
    key_id = hashlib.sha256(name.encode() + b"\n" + b"\x01" + public).digest()[:4]
    if key_id.hex() != key_id_hex.lower():
        raise Invalid("vkey key id does not match its key")
    return name, key_id, Ed25519PublicKey.from_public_bytes(public)


def open_note(note, vkey):
    """Returns the note text if a signature by the vkey's key verifies."""
    name, key_id, public = parse_vkey(vkey)
    if "\n\n" not in note:
        raise Invalid("no blank line before the signatures")
    split = note.rindex("\n\n")
    text, signatures = note[: split + 1], note[split + 2 :]
    verified = False
    for line in signatures.splitlines():
        if not line.startswith(EM_DASH + " "):
            raise Invalid("a signature line does not start with an em dash")
        sig_name, sig_b64 = line[2:].split(" ", 1)
        blob = base64.b64decode(sig_b64, validate=True)
        if sig_name != name or blob[:4] != key_id:
            continue
        try:
            public.verify(blob[4:], text.encode())
        except InvalidSignature:
            raise Invalid("the signature does not verify")
        verified = True
    if not verified:
        raise Invalid("no signature from the expected key")
    return text


def parse_checkpoint(text, origin):
    lines = text[:-1].split("\n")
    if len(lines) < 3 or lines[0] != origin:
        raise Invalid("the checkpoint's origin is not the key name")
    size_line = lines[1]
    if not size_line.isdigit() or (len(size_line) > 1 and size_line[0] == "0"):
        raise Invalid("bad tree size")
    root = base64.b64decode(lines[2], validate=True)
    if len(root) != 32:
        raise Invalid("the root is not 32 bytes")
    return int(size_line), root


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index, size, leaf, proof):
    """RFC 9162, 2.1.3.2."""
    if index >= size:
        raise Invalid("index beyond the tree")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise Invalid("proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Invalid("proof too short")
    return r


def main(path):
    with open(path, encoding="utf-8") as f:
        fixture = json.load(f)
    name = fixture["vkey"].split("+", 1)[0]
    text = open_note(fixture["checkpoint"], fixture["vkey"])
    size, root = parse_checkpoint(text, name)
    proof = [base64.b64decode(p, validate=True) for p in fixture["proof"]]
    event = fixture["event"].encode("utf-8")
    computed = root_from_inclusion(fixture["index"], size, leaf_hash(event), proof)
    if computed != root:
        raise Invalid("the inclusion proof does not lead to the checkpoint's root")
    print(f"ok: event {fixture['index']} is in the tree of size {size} signed by {name}")


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except (Invalid, ValueError, KeyError) as e:
        print(f"invalid: {e}", file=sys.stderr)
        sys.exit(1)
