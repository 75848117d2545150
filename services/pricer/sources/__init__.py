"""Price sources: one small interface (`PriceSource`), one adapter per outside service.

Each adapter translates its library's exceptions into shared.errors in exactly one
place (`ccxt_errors` for ccxt, `http` for requests) and never raises anything else.
"""
