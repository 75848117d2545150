"""Price sources: one small interface (`PriceSource`), one adapter per outside service.

Each adapter translates its library's exceptions into shared.errors through the one map
in shared/exchange_errors.py (ccxt and requests alike) and never raises anything else.
"""
