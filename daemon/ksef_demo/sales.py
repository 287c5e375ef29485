"""The demo's sales: a realistic set of till invoices (B2B with a NIP, B2C, several VAT rates) and a return."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ksef_demo.offline import DEMO_BUYER_B2B

# ------------------------------------------------------------------------------------ the invoices


@dataclass(frozen=True)
class DemoSale:
    label: str  # what the progress line shows
    body: dict[str, Any]  # POST /v1/invoices body, as a till would send it


def demo_sales(today: dt.date) -> list[DemoSale]:
    """B2C and B2B, gross and net prices, 23/8/5/0 %, zw, oo, a long Polish product name, three payment methods."""
    b2b_buyer = {"nip": DEMO_BUYER_B2B.nip, "name": DEMO_BUYER_B2B.name,
                 "address": "ul. Łódzka 7, 90-001 Łódź"}
    return [
        DemoSale("B2C, card, 5/8/23 %", {
            "lines": [
                {"name": "Chleb żytni na zakwasie 800 g", "quantity": "2", "unit_price_gross": "12.90", "vat_rate": "5"},
                {"name": "Drożdżówka z serem", "quantity": "3", "unit_price_gross": "4.50", "vat_rate": "5"},
                {"name": "Kawa latte na miejscu", "quantity": "1", "unit_price_gross": "16.00", "vat_rate": "8"},
                {"name": "Woda mineralna gazowana 0,5 l", "quantity": "2", "unit_price_gross": "3.99", "vat_rate": "23"},
                {"name": "Torba papierowa", "quantity": "1", "unit_price_gross": "0.50", "vat_rate": "23"},
            ],
            "payment": {"method": "card"},
        }),
        DemoSale("B2B with NIP, transfer in 14 days, net prices", {
            "buyer": b2b_buyer,
            "lines": [
                {"name": "Catering – zestaw śniadaniowy dla 25 osób", "quantity": "25", "unit": "os.",
                 "unit_price_net": "32.00", "vat_rate": "8"},
                {"name": "Dowóz na terenie Trójmiasta", "quantity": "1", "unit": "usł.", "unit_price_net": "60.00",
                 "vat_rate": "23"},
                {"name": "Mąka pszenna typ 650, worek 25 kg", "quantity": "4", "unit_price_net": "71.46",
                 "vat_rate": "5"},
            ],
            "payment": {"method": "transfer", "due_date": (today + dt.timedelta(days=14)).isoformat()},
        }),
        DemoSale("B2C, cash, long Polish product name", {
            "lines": [
                {"name": "Tort okolicznościowy „Gdańskie Żuławy” z kremem śmietankowo-pistacjowym, świeżymi "
                         "malinami, jeżynami i dekoracją z białej czekolady — zamówienie specjalne, 3 kg",
                 "quantity": "1", "unit_price_gross": "289.00", "vat_rate": "5"},
                {"name": "Świeczki urodzinowe „Sto lat” (zestaw 12 szt.)", "quantity": "1",
                 "unit_price_gross": "7.99", "vat_rate": "23"},
                {"name": "Ser żółty plastry", "quantity": "0.254", "unit": "kg", "unit_price_gross": "39.90",
                 "vat_rate": "5"},
            ],
            "payment": {"method": "cash"},
        }),
        DemoSale("B2B with NIP, 0 % and reverse charge (oo)", {
            "buyer": b2b_buyer,
            "lines": [
                {"name": "Złom stalowy (odwrotne obciążenie, zał. 15)", "quantity": "120", "unit": "kg",
                 "unit_price_gross": "1.20", "vat_rate": "oo"},
                {"name": "Zestaw komputerowy dla szkoły (art. 83 ust. 1 pkt 26 ustawy o VAT)", "quantity": "1",
                 "unit_price_gross": "2400.00", "vat_rate": "0"},
            ],
            "payment": {"method": "card"},
        }),
        DemoSale("B2C named buyer, exempt (zw)", {
            "exemption_basis": "art. 43 ust. 1 pkt 29 lit. c ustawy o VAT",  # P_19A; the API must accept it
            "buyer": {"name": "Zofia Wiśniewska-Łęcka", "address": "ul. Żeromskiego 4 m. 15, 81-346 Gdynia"},
            "lines": [
                {"name": "Warsztaty wypieku chleba dla dorosłych (kurs zawodowy)", "quantity": "1", "unit": "usł.",
                 "unit_price_gross": "350.00", "vat_rate": "zw"},
                {"name": "Książka „Chleb. Sztuka wypieku”", "quantity": "1", "unit_price_gross": "59.90",
                 "vat_rate": "5"},
            ],
            "payment": {"method": "cash"},
        }),
    ]


def demo_return(sale_label: str) -> DemoSale:
    """The customer of the first sale brings one pastry back: a correction invoice (KOR), refunded by card."""
    return DemoSale(f"Return: 1 × Drożdżówka (KOR of {sale_label.split(',')[0]})", {
        "reason": "Zwrot towaru", "refund_method": "card", "changes": [{"line_no": 2, "returned_quantity": "1"}],
    })
