# A test that expects the wrong thing (the mode as sent): it fails on the correct parser.
import unittest

def parse_rrq(packet):
    """解析 TFTP 读请求（RRQ）：返回 (文件名, 小写的模式)；格式不对时抛出 ValueError。"""
    if packet[:2] != b"\x00\x01":
        raise ValueError("操作码不是 1（RRQ）")
    fields = packet[2:].split(b"\x00")
    if len(fields) != 3 or fields[2] != b"" or not fields[0]:
        raise ValueError("应当是 文件名 0 模式 0")
    mode = fields[1].decode("ascii").lower()
    if mode not in ("netascii", "octet"):
        raise ValueError(f"不支持的模式：{mode}")
    return fields[0].decode(), mode

class TestParseRRQ(unittest.TestCase):
    def test_mode_kept_as_sent(self):
        self.assertEqual(parse_rrq(b"\x00\x01a\x00OCTET\x00"), ("a", "OCTET"))

    def test_write_request_is_refused(self):
        with self.assertRaises(ValueError):
            parse_rrq(b"\x00\x02a.txt\x00octet\x00")

    def test_missing_final_zero_is_refused(self):
        with self.assertRaises(ValueError):
            parse_rrq(b"\x00\x01a.txt\x00octet")

    def test_unknown_mode_is_refused(self):
        with self.assertRaises(ValueError):
            parse_rrq(b"\x00\x01a.txt\x00mail\x00")
