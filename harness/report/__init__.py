"""report: results for people and for CI.

Failure tables, digests and comparisons, matplotlib charts, the HTML report, text
renderings, the nightly job and its regression gate. Imports every stage below it.
"""
