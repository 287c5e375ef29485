"""The shop's books read from the stored invoices: the day report (raport dobowy) and the accountant's export."""
