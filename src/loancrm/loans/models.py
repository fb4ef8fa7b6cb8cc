"""Loans, repayment schedules, repayments, overdue buckets and collection (issue 7)."""
