"""Text from outside (the command line, JSON) that no UTF-8 encoder takes: bytes that were not
UTF-8 arrive as lone surrogates (surrogateescape), and JSON may escape one (\\ud800)."""


def encodes(text: str) -> bool:
    try:
        text.encode()
        return True
    except UnicodeEncodeError:
        return False
