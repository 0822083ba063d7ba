"""The built-in demo account: the reference stack built in moto, half right and half broken.

The same builders make the test accounts, so what the demo shows is what the tests prove.
Needs the ``demo`` extra (moto).
"""
