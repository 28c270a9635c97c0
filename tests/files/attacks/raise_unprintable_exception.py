"""Raise an exception whose __str__ itself raises."""


class Unprintable(Exception):
    def __str__(self):
        raise ValueError("no message for you")


raise Unprintable()
