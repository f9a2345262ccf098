"""Probe methods. ``connect``, ``udp`` and ``sctp`` use ordinary sockets; ``syn`` is
the only one that imports scapy, and only when a batch actually contains SYN probes."""
