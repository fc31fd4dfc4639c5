"""Word lists the forest generator draws from: (display form, ASCII form) pairs and organisation vocabulary.

A few names carry non-ASCII letters or apostrophes on purpose: LDIF must base64 them and DNs must escape.
"""

from __future__ import annotations

from typing import Final

GIVEN_NAMES: Final[tuple[tuple[str, str], ...]] = (
    ("James", "James"), ("Mary", "Mary"), ("John", "John"), ("Patricia", "Patricia"),
    ("Robert", "Robert"), ("Jennifer", "Jennifer"), ("Michael", "Michael"), ("Linda", "Linda"),
    ("William", "William"), ("Elizabeth", "Elizabeth"), ("David", "David"), ("Barbara", "Barbara"),
    ("Richard", "Richard"), ("Susan", "Susan"), ("Joseph", "Joseph"), ("Jessica", "Jessica"),
    ("Thomas", "Thomas"), ("Sarah", "Sarah"), ("Charles", "Charles"), ("Karen", "Karen"),
    ("Daniel", "Daniel"), ("Nancy", "Nancy"), ("Matthew", "Matthew"), ("Lisa", "Lisa"),
    ("Anthony", "Anthony"), ("Betty", "Betty"), ("Mark", "Mark"), ("Margaret", "Margaret"),
    ("Paul", "Paul"), ("Sandra", "Sandra"), ("Steven", "Steven"), ("Ashley", "Ashley"),
    ("Andrew", "Andrew"), ("Emily", "Emily"), ("Kenneth", "Kenneth"), ("Donna", "Donna"),
    ("Wei", "Wei"), ("Mei", "Mei"), ("Hiroshi", "Hiroshi"), ("Yuki", "Yuki"),
    ("Priya", "Priya"), ("Arjun", "Arjun"), ("Fatima", "Fatima"), ("Omar", "Omar"),
    ("Olga", "Olga"), ("Ivan", "Ivan"), ("Lars", "Lars"), ("Ingrid", "Ingrid"),
    ("José", "Jose"), ("Zoë", "Zoe"), ("Søren", "Soren"), ("François", "Francois"),
    ("Björn", "Bjorn"), ("Anaïs", "Anais"), ("Chloé", "Chloe"), ("Håkon", "Hakon"),
    ("Łucja", "Lucja"), ("Çelik", "Celik"), ("Renée", "Renee"), ("Jürgen", "Jurgen"),
)  # fmt: skip

SURNAMES: Final[tuple[tuple[str, str], ...]] = (
    ("Smith", "Smith"), ("Johnson", "Johnson"), ("Williams", "Williams"), ("Brown", "Brown"),
    ("Jones", "Jones"), ("Miller", "Miller"), ("Davis", "Davis"), ("Wilson", "Wilson"),
    ("Anderson", "Anderson"), ("Taylor", "Taylor"), ("Thomas", "Thomas"), ("Moore", "Moore"),
    ("Martin", "Martin"), ("Jackson", "Jackson"), ("Thompson", "Thompson"), ("White", "White"),
    ("Harris", "Harris"), ("Clark", "Clark"), ("Lewis", "Lewis"), ("Robinson", "Robinson"),
    ("Walker", "Walker"), ("Young", "Young"), ("Allen", "Allen"), ("King", "King"),
    ("Wright", "Wright"), ("Scott", "Scott"), ("Hill", "Hill"), ("Green", "Green"),
    ("Adams", "Adams"), ("Baker", "Baker"), ("Nelson", "Nelson"), ("Carter", "Carter"),
    ("Chen", "Chen"), ("Wang", "Wang"), ("Tanaka", "Tanaka"), ("Suzuki", "Suzuki"),
    ("Patel", "Patel"), ("Sharma", "Sharma"), ("Khan", "Khan"), ("Ali", "Ali"),
    ("Ivanova", "Ivanova"), ("Petrov", "Petrov"), ("Larsen", "Larsen"), ("Berg", "Berg"),
    ("García", "Garcia"), ("Müller", "Muller"), ("Østergaard", "Ostergaard"), ("Núñez", "Nunez"),
    ("O'Brien", "OBrien"), ("Łukasiewicz", "Lukasiewicz"), ("Dvořák", "Dvorak"), ("Öztürk", "Ozturk"),
    ("Lefèvre", "Lefevre"), ("Strauß", "Strauss"), ("van der Berg", "vanderBerg"), ("D'Angelo", "DAngelo"),
)  # fmt: skip

DEPARTMENTS: Final[tuple[str, ...]] = (
    "Sales", "Marketing", "Engineering", "Finance", "Human Resources", "Legal", "Operations",
    "Support", "Research", "Procurement", "IT", "Facilities",
)  # fmt: skip

TITLES: Final[tuple[str, ...]] = (
    "Associate", "Analyst", "Senior Analyst", "Engineer", "Senior Engineer", "Principal Engineer",
    "Specialist", "Coordinator", "Consultant", "Team Lead", "Manager", "Senior Manager", "Director",
    "Vice President", "Administrator",
)  # fmt: skip

GROUP_PURPOSES: Final[tuple[str, ...]] = (
    "Team", "Project", "Share Access", "App Users", "Announcements", "Leads", "Readers", "Editors",
)  # fmt: skip

OPERATING_SYSTEMS: Final[tuple[tuple[str, str], ...]] = (
    ("Windows 11 Enterprise", "10.0 (22631)"),
    ("Windows 10 Enterprise", "10.0 (19045)"),
    ("Windows Server 2022 Datacenter", "10.0 (20348)"),
    ("Windows Server 2019 Standard", "10.0 (17763)"),
)
