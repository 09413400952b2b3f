"""stub"""
NAME = "rotation"


def run(run):
    return []
