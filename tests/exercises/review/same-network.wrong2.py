# Uses ip_network on the host address: strict=True refuses host bits, so it raises.
import ipaddress

def same_network(a, b, prefix):
    return ipaddress.ip_network(f"{a}/{prefix}") == ipaddress.ip_network(f"{b}/{prefix}")
