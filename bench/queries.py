"""stub"""
NAME = "queries"


def run(run):
    return []
