"""Code tables: how the old files' text codes map onto the data dictionary's values.

The 2009 and 2010 yellow files write vendors and payment types as text in several
spellings; 2011 on, the dictionary's numbers. Keys are matched case-insensitively after
stripping. A value that is not here maps to nothing: it becomes null in the partition
and is counted, by value, in the partition's stats and quality checks.
"""

from __future__ import annotations

#: VendorID: 1 Creative Mobile Technologies (CMT), 2 VeriFone (VTS; Curb Mobility since
#: 2025). DDS (Digital Dispatch Systems, 2009-2010) has no number in the dictionary, so
#: it is counted as unmapped rather than given an invented one.
VENDOR: dict[str, int | str] = {"CMT": 1, "VTS": 2}

#: payment_type: 0 Flex Fare, 1 credit card, 2 cash, 3 no charge, 4 dispute, 5 unknown,
#: 6 voided trip; with the spellings of the TLC's original csv files: 2009 ``CASH``,
#: ``Credit``, ``No Charge``; 2010 ``CAS``, ``CRE``, ``NOC``, ``DIS`` and ``No ``/``NA ``
#: (with a trailing space); 2010-10 to 2014 ``CSH``, ``CRD``, ``UNK``.
PAYMENT: dict[str, int | str] = {
    "CREDIT": 1,
    "CRE": 1,
    "CRD": 1,
    "CASH": 2,
    "CAS": 2,
    "CSH": 2,
    "NO CHARGE": 3,
    "NOC": 3,
    "NO": 3,
    "DISPUTE": 4,
    "DIS": 4,
    "UNKNOWN": 5,
    "UNK": 5,
    "NA": 5,
    "VOIDED": 6,
    "VOIDED TRIP": 6,
}

#: Yes/no flags: ``Y``/``N``, and the ``1``/``0`` of 2009's store_and_forward and of the
#: course mirror's fhvhv ``SR_Flag``.
FLAG: dict[str, int | str] = {"Y": "Y", "N": "N", "1": "Y", "0": "N"}
