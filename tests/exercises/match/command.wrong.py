# Captures x and y without checking their type.
def handle(command):
    match command:
        case {"op": "move", "x": x, "y": y}:
            return f"移动到 ({x}, {y})"
        case {"op": "say", "text": text}:
            return text
        case {"op": "quit"}:
            return "再见"
        case _:
            return "未知命令"
