"""The iptables rules that cut a service-mode node off its peers, as pure functions.

Which rules a cut-off needs, the argv that adds or deletes one, and which
rules in `iptables -S` output are ours (tagged with RULE_COMMENT), so
faunadb_node_systemd only runs commands and restored removes exactly what
cut_off added.
"""

from __future__ import annotations

import ipaddress
import shlex

from ansible.module_utils.faunadb_common import FaunaDBError

# Peer (cleartext and TLS) and API ports: what other nodes and the load
# balancer use. The admin port (8444) listens on 127.0.0.1 only.
DEFAULT_CUT_OFF_PORTS = (7500, 7501, 8443)
# Every iptables rule cut_off adds carries this comment; restored removes
# exactly the rules that carry it.
RULE_COMMENT = "faunadb_node cut_off"


def validate_peers(peers):
    """Peer addresses as ipaddress objects; FaunaDBError naming the bad one."""
    found = []
    for peer in peers or []:
        try:
            found.append(ipaddress.ip_address(str(peer).strip()))
        except ValueError:
            raise FaunaDBError(f"peers: {peer!r} is not an IP address") from None
    return found


def validate_ports(ports):
    bad = [p for p in ports or [] if not isinstance(p, int) or not 0 < p < 65536]
    if bad or not ports:
        raise FaunaDBError(f"cut_off_ports must be TCP/UDP port numbers, got {ports!r}")
    if len(ports) > 15:
        # iptables' multiport match takes at most 15 ports.
        raise FaunaDBError(f"cut_off_ports: at most 15 ports, got {len(ports)}")
    return sorted(set(ports))


class Rule:
    """One DROP rule of a cut-off: traffic to or from one peer on the given ports."""

    def __init__(self, chain, address, proto, ports):
        self.chain = chain  # INPUT (from the peer) or OUTPUT (to the peer)
        self.address = ipaddress.ip_network(address)  # a /32 or /128
        self.proto = proto
        self.ports = ",".join(str(p) for p in ports) if not isinstance(ports, str) else ports

    @property
    def family(self):
        return "ip6tables" if self.address.version == 6 else "iptables"

    def key(self):
        flag = "-s" if self.chain == "INPUT" else "-d"
        where = f"{self.chain} {flag} {self.address}"
        return f"{self.family} {where} -p {self.proto} --ports {self.ports}"

    def spec(self):
        """The rule's match and target, as iptables takes them after -I/-D CHAIN."""
        flag = "-s" if self.chain == "INPUT" else "-d"
        return [
            flag, str(self.address), "-p", self.proto, "-m", "multiport", "--ports", self.ports,
            "-m", "comment", "--comment", RULE_COMMENT, "-j", "DROP",
        ]  # fmt: skip

    def __eq__(self, other):
        return isinstance(other, Rule) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def __repr__(self):
        return f"Rule({self.key()})"


def cut_off_rules(peers, ports):
    """The rules that cut this node off from every peer: both directions, TCP and UDP."""
    ports = validate_ports(list(ports))
    rules = []
    for peer in validate_peers(peers):
        for chain in ("INPUT", "OUTPUT"):
            for proto in ("tcp", "udp"):
                rules.append(Rule(chain, peer, proto, ports))
    return rules


def iptables_argv(rule, action):
    """argv to insert (at the top, before any ACCEPT) or delete one rule."""
    if action == "add":
        return [rule.family, "-w", "5", "-I", rule.chain, "1", *rule.spec()]
    return [rule.family, "-w", "5", "-D", rule.chain, *rule.spec()]


def parse_tagged_rules(listing, family="iptables"):
    """The cut-off rules (tagged with RULE_COMMENT) in `iptables -S` output.

    Rules without the tag, or tagged ones this module could not have written,
    are left alone.
    """
    rules = []
    for line in (listing or "").splitlines():
        if RULE_COMMENT not in line:
            continue
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        if len(words) < 2 or words[0] != "-A" or words[1] not in ("INPUT", "OUTPUT"):
            continue
        opts = _options(words[2:])
        address = opts.get("-s") if words[1] == "INPUT" else opts.get("-d")
        if not (address and opts.get("-p") and opts.get("--ports")):
            continue
        if opts.get("--comment") != RULE_COMMENT or opts.get("-j") != "DROP":
            continue
        try:
            rule = Rule(words[1], address, opts["-p"], opts["--ports"])
        except ValueError:
            continue
        if rule.family == family:
            rules.append(rule)
    return rules


def _options(words):
    opts = {}
    it = iter(words)
    for word in it:
        if word.startswith("-"):
            opts[word] = next(it, None)
    return opts
