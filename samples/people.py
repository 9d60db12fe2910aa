"""Seeded, realistic applicants: the data documents the sample envelopes are written from.

Names come from the places the CSQ mail actually comes from (France, Quebec, the Maghreb,
West Africa, Latin America, Asia), with their accents. Two spellings:

- as in the passport (`make_applicant(rng, as_in_passport=True)`, what samples.generate
  writes, as the form asks): GARCÍA LÓPEZ, ŁUKASIEWICZ, NGUYỄN, every Latin letter as given;
  `PASSPORT_ORIGINS` adds the places whose names carry letters beyond French (Poland,
  Czechia, Romania, Turkey, the Nordic countries, Viet Nam, Spain and Portugal).
- transliterated to the French accented capitals (ÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸ), the default and what
  samples.othergen starts from: HERNÁNDEZ written HERNANDEZ, as people used to be told.
  `to_form_text` does that and `Applicant.transliterated` records every field where it
  changed something, so that the truth says both what the person is called and what the
  paper carries. The default's random draws are those it always made: a seed gives the
  other generator the same people as before.

`make_applicant(rng)` returns a valid document (templates.validation.validate finds nothing);
`break_document` then spoils it in one labelled way (a required field left empty, married
without a spouse, a passport expired at signature...) for the share of envelopes that must
come back with a letter asking for the fix.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from templates.alphabet import fold
from templates.spec import TEXT_CHARSET, load_form
from templates.validation import validate

# The intake the samples pretend to belong to: signatures in the weeks before the opening,
# postmarks from the opening on. Fixed dates (not today's) keep a seed's corpus identical
# whatever day it is generated; they are in the past, so no date is "in the future".
CAMPAIGN_OPENS = date(2026, 2, 16)
SIGNATURE_WINDOW = (date(2026, 1, 5), date(2026, 2, 13))
POSTMARK_WINDOW = (CAMPAIGN_OPENS, date(2026, 3, 13))
MAIL_DELAY_DAYS = (2, 12)  # postmark to the ministry's mailroom

# --------------------------------------------------------------------------- name pools


@dataclass(frozen=True)
class Origin:
    key: str
    family: tuple[str, ...]
    given_f: tuple[str, ...]
    given_m: tuple[str, ...]
    places: tuple[tuple[str, str, str, str], ...]  # (country in French capitals, city, postal-code
    # template where 9 is a digit and A a letter, phone country code)
    tongues: tuple[str, ...]
    institutions: tuple[str, ...]
    weight: float

    @property
    def countries(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p[0] for p in self.places))


ORIGINS: tuple[Origin, ...] = (
    Origin(
        "france",
        ("GAGNÉ-TREMBLAY", "BÉLANGER", "LEFÈVRE", "CÔTÉ", "MOREAU", "FRANÇOIS", "GIRAUD", "LAMBERT",
         "DUBOIS", "BENOÎT", "MÉNARD", "FAURÉ", "ROUSSEAU", "LEBŒUF", "CHÂTEAUNEUF", "D'AMOURS"),
        ("CLÉMENCE", "HÉLÈNE", "MARIE-ÈVE", "ZOÉ", "CHLOÉ", "LÉA", "MAËLLE", "AURÉLIE", "INÈS", "NOÉMIE"),
        ("FRANÇOIS", "JÉRÔME", "GAËTAN", "THÉO", "LOÏC", "ANDRÉ", "BENOÎT", "MATHÉO", "JEAN-LUC", "RAPHAËL"),
        (("FRANCE", "LYON", "69009", "33"), ("FRANCE", "BORDEAUX", "33000", "33"), ("FRANCE", "LILLE", "59000", "33"),
         ("FRANCE", "RENNES", "35000", "33"), ("BELGIQUE", "BRUXELLES", "1000", "32"), ("BELGIQUE", "LIÈGE", "4000", "32"),
         ("SUISSE", "GENÈVE", "1201", "41")),
        ("FRANÇAIS",),
        ("INSA LYON", "UNIVERSITÉ DE BORDEAUX", "IUT DE LILLE", "UNIVERSITÉ DE LIÈGE", "HAUTE ÉCOLE DE GENÈVE", "LYCÉE TECHNIQUE EIFFEL"),
        1.4,
    ),
    Origin(
        "maghreb",
        ("BENABDALLAH", "EL OUAZZANI", "BOUCHAREB", "AMRANI", "BELKACEM", "HADDAD", "TAZI",
         "BENSAÏD", "CHERKAOUI", "ZEROUAL", "EL IDRISSI", "BOUAZIZ"),
        ("FATIMA ZAHRA", "YASMINE", "SALMA", "NADIA", "KHADIJA", "AMINA", "IMANE", "LEÏLA"),
        ("MOHAMED", "YOUSSEF", "KARIM", "HICHAM", "MEHDI", "RACHID", "OMAR", "AHMED AMINE"),
        (("MAROC", "CASABLANCA", "20250", "212"), ("MAROC", "RABAT", "10090", "212"), ("MAROC", "FÈS", "30000", "212"),
         ("ALGÉRIE", "ALGER", "16000", "213"), ("ALGÉRIE", "ORAN", "31000", "213"),
         ("TUNISIE", "TUNIS", "1002", "216"), ("TUNISIE", "SFAX", "3000", "216")),
        ("ARABE", "AMAZIGH", "FRANÇAIS"),
        ("UNIVERSITÉ MOHAMMED V", "UNIVERSITÉ HASSAN II", "USTHB ALGER", "UNIVERSITÉ D'ORAN", "UNIVERSITÉ DE TUNIS", "ENIT TUNIS"),
        1.3,
    ),
    Origin(
        "west_africa",
        ("OUÉDRAOGO", "DIALLO", "N'DIAYE", "TRAORÉ", "KONÉ", "SAWADOGO", "DIOP", "CAMARA",
         "KOUASSI", "FOFANA", "SANGARÉ", "N'GUESSAN"),
        ("AÏSSATOU", "FATOUMATA", "MARIAM", "AWA", "ROKIA", "ADJOA", "NAFISSATOU", "SALIMATA"),
        ("MAMADOU", "IBRAHIMA", "SEYDOU", "OUSMANE", "MOUSSA", "KOFFI", "ABDOULAYE", "CHEIKH"),
        (("SÉNÉGAL", "DAKAR", "10200", "221"), ("SÉNÉGAL", "THIÈS", "21000", "221"),
         ("BURKINA FASO", "OUAGADOUGOU", "01 BP 999", "226"), ("CÔTE D'IVOIRE", "ABIDJAN", "99 BP 999", "225"),
         ("MALI", "BAMAKO", "BP 999", "223"), ("GUINÉE", "CONAKRY", "BP 999", "224"), ("CAMEROUN", "DOUALA", "BP 9999", "237")),
        ("WOLOF", "MOORÉ", "BAMBARA", "PEUL", "DIOULA", "FRANÇAIS"),
        ("UNIVERSITÉ CHEIKH ANTA DIOP", "UNIVERSITÉ JOSEPH KI-ZERBO", "UNIVERSITÉ FÉLIX HOUPHOUËT", "UNIVERSITÉ DE YAOUNDÉ I",
         "ÉCOLE POLYTECHNIQUE DE THIÈS", "UNIVERSITÉ DE BAMAKO"),
        1.2,
    ),
    Origin(
        "latin_america",
        ("HERNÁNDEZ", "GONZÁLEZ", "RODRÍGUEZ", "MUÑOZ", "PEÑA", "GARCÍA MÁRQUEZ", "LÓPEZ", "CASTAÑO",
         "RAMÍREZ", "SILVA", "CONCEIÇÃO", "FERNÁNDEZ"),
        ("MARÍA JOSÉ", "VALENTINA", "LUCÍA", "SOFÍA", "ANA PAULA", "XIMENA", "CAMILA", "MARÍA FERNANDA"),
        ("JOSÉ LUIS", "ANDRÉS", "SEBASTIÁN", "MATÍAS", "JUAN PABLO", "NICOLÁS", "IÑAKI", "JOÃO"),
        (("COLOMBIE", "BOGOTÁ", "110111", "57"), ("COLOMBIE", "MEDELLÍN", "050021", "57"),
         ("MEXIQUE", "CIUDAD DE MÉXICO", "06700", "52"), ("PÉROU", "LIMA", "15001", "51"),
         ("CHILI", "SANTIAGO", "8320000", "56"), ("BRÉSIL", "SÃO PAULO", "01310-999", "55"),
         ("ARGENTINE", "BUENOS AIRES", "C1999AAA", "54")),
        ("ESPAGNOL", "PORTUGAIS"),
        ("UNIVERSIDAD NACIONAL", "UNIVERSIDAD DE LOS ANDES", "UNAM", "PONTIFICIA UNIVERSIDAD", "UNIVERSIDADE DE SÃO PAULO", "SENA"),
        1.0,
    ),
    Origin(
        "asia",
        ("NGUYEN", "ZHANG", "PARK", "TRAN", "WANG", "KIM", "LI", "LE", "CHEN", "PHAM", "SINGH", "REYES"),
        ("THI LAN", "XIAOMEI", "JI-YEON", "MINH ANH", "MEI LING", "SEO-YUN", "PRIYA", "MARICEL"),
        ("VAN DUC", "WEI", "MIN-JUN", "QUANG HUY", "HAO", "JAE-HYUN", "ARJUN", "JOSÉ MARI"),
        (("VIET NAM", "HANOÏ", "100000", "84"), ("VIET NAM", "HÔ CHI MINH-VILLE", "700000", "84"),
         ("CHINE", "SHANGHAI", "200000", "86"), ("CHINE", "CHENGDU", "610000", "86"), ("CORÉE DU SUD", "SÉOUL", "04524", "82"),
         ("INDE", "PUNE", "411001", "91"), ("PHILIPPINES", "MANILLE", "1000", "63")),
        ("VIETNAMIEN", "MANDARIN", "CORÉEN", "HINDI", "TAGALOG", "CANTONAIS"),
        ("UNIVERSITÉ DE HANOÏ", "UNIVERSITÉ FUDAN", "SEOUL NATIONAL UNIVERSITY", "UNIVERSITY OF PUNE", "ATENEO DE MANILA", "UNIVERSITÉ DE HUÉ"),
        1.1,
    ),
    Origin(
        "middle_east_caribbean",
        ("KHOURY", "HADDAD", "SALIBA", "JEAN-BAPTISTE", "PIERRE-LOUIS", "SAINT-FLEUR", "REZAEI", "MOHAMMADI"),
        ("RANIA", "MAYA", "NATHALIE", "WIDELINE", "SHIRIN", "ROXANE"),
        ("ELIE", "GEORGES", "WOODLEY", "JEAN-RONALD", "DARIUSH", "KARIM"),
        (("LIBAN", "BEYROUTH", "1107 2020", "961"), ("LIBAN", "JOUNIEH", "1200", "961"),
         ("HAÏTI", "PORT-AU-PRINCE", "HT6110", "509"), ("HAÏTI", "CAP-HAÏTIEN", "HT1110", "509"),
         ("IRAN", "TÉHÉRAN", "9999999999", "98")),
        ("ARABE", "CRÉOLE HAÏTIEN", "PERSAN", "FRANÇAIS"),
        ("UNIVERSITÉ LIBANAISE", "UNIVERSITÉ SAINT-JOSEPH", "UNIVERSITÉ D'ÉTAT D'HAÏTI", "UNIVERSITÉ DE TÉHÉRAN"),
        0.8,
    ),
)

# Places whose passports print letters beyond French (Ł Ş Ğ İ Ø Å Č Ř Ș Ñ Ã Ễ...): only in the
# passport-spelling corpora (samples.generate), so the other generator's people stay as they were.
ORIGINS_BEYOND_FRENCH: tuple[Origin, ...] = (
    Origin(
        "central_europe",
        ("ŁUKASIEWICZ", "WÓJCIK", "KOWALCZYK", "NOWAK", "DVOŘÁK", "ČERNÝ", "ŠIMEK", "KRÁL",
         "POPESCU", "ȚĂRANU", "SZABÓ", "KOVÁCS"),
        ("MAŁGORZATA", "AGNIESZKA", "ZUZANA", "KATEŘINA", "IOANA", "ŽANETA", "ANDREEA", "RÉKA"),
        ("PAWEŁ", "ŁUKASZ", "JIŘÍ", "TOMÁŠ", "ȘTEFAN", "ANDRÁS", "MIHAI", "BOŻYDAR"),
        (("POLOGNE", "WARSZAWA", "99-999", "48"), ("POLOGNE", "KRAKÓW", "99-999", "48"), ("POLOGNE", "ŁÓDŹ", "99-999", "48"),
         ("TCHÉQUIE", "PRAHA", "999 99", "420"), ("ROUMANIE", "BUCUREȘTI", "999999", "40"),
         ("ROUMANIE", "TIMIȘOARA", "999999", "40"), ("HONGRIE", "BUDAPEST", "9999", "36")),
        ("POLONAIS", "TCHÈQUE", "ROUMAIN", "HONGROIS"),
        ("UNIWERSYTET WARSZAWSKI", "POLITECHNIKA ŁÓDZKA", "UNIVERZITA KARLOVA", "POLITEHNICA BUCUREȘTI", "ELTE BUDAPEST"),
        0.8,
    ),
    Origin(
        "turkey",
        ("ÇAĞLAYAN", "YILMAZ", "ÖZTÜRK", "ŞAHİN", "DEMİR", "KOÇ", "AYDIN", "ÇELİK", "ERDOĞAN", "YÜCEL"),
        ("AYŞE", "ELİF", "ZEYNEP", "GÜL", "ŞEYMA", "İPEK", "DİLEK", "ÖZLEM"),
        ("MEHMET", "MUSTAFA", "EMRE", "OĞUZ", "İBRAHİM", "ÇAĞRI", "KEMAL", "TUĞRUL"),
        (("TURQUIE", "İSTANBUL", "34000", "90"), ("TURQUIE", "ANKARA", "06000", "90"), ("TURQUIE", "İZMIR", "35000", "90")),
        ("TURC",),
        ("BOĞAZİÇİ ÜNİVERSİTESİ", "İSTANBUL TEKNİK ÜNİVERSİTESİ", "ANKARA ÜNİVERSİTESİ", "EGE ÜNİVERSİTESİ"),
        0.6,
    ),
    Origin(
        "nordic_germanic",
        ("ØSTERGÅRD", "SØRENSEN", "JØRGENSEN", "ÅBERG", "MÜLLER-LÜDENSCHEIDT", "SCHRÖDER", "LINDSTRÖM", "HØJBJERG"),
        ("INGRID", "ÅSA", "BJØRG", "SØLVI", "JÜLIA", "MÄRTA"),
        ("SØREN", "JØRGEN", "BJÖRN", "JÜRGEN", "ÅKE", "STÅLE"),
        (("DANEMARK", "KØBENHAVN", "9999", "45"), ("DANEMARK", "ÅRHUS", "8000", "45"), ("NORVÈGE", "OSLO", "0150", "47"),
         ("SUÈDE", "GÖTEBORG", "999 99", "46"), ("ALLEMAGNE", "MÜNCHEN", "80331", "49")),
        ("DANOIS", "NORVÉGIEN", "SUÉDOIS", "ALLEMAND"),
        ("AARHUS UNIVERSITET", "KØBENHAVNS UNIVERSITET", "NTNU", "CHALMERS", "TU MÜNCHEN"),
        0.6,
    ),
    Origin(
        "vietnam",
        ("NGUYỄN", "TRẦN", "LÊ", "PHẠM", "HOÀNG", "VŨ", "ĐẶNG", "BÙI", "ĐỖ", "HỒ"),
        ("THỊ HẰNG", "THỊ LAN", "NGỌC ÁNH", "THU HÀ", "PHƯƠNG", "MỸ LINH"),
        ("VĂN ĐỨC", "QUANG HUY", "MINH TUẤN", "ĐỨC ANH", "HOÀNG LONG", "THÀNH"),
        (("VIET NAM", "HÀ NỘI", "100000", "84"), ("VIET NAM", "HỒ CHÍ MINH", "700000", "84"),
         ("VIET NAM", "ĐÀ NẴNG", "550000", "84"), ("VIET NAM", "HUẾ", "530000", "84")),
        ("VIETNAMIEN",),
        ("ĐẠI HỌC QUỐC GIA HÀ NỘI", "ĐẠI HỌC BÁCH KHOA", "ĐẠI HỌC HUẾ", "UNIVERSITÉ DE HANOÏ"),
        0.6,
    ),
    Origin(
        "iberia",
        ("GARCÍA LÓPEZ", "NÚÑEZ", "PÉREZ", "GONÇALVES", "JIMÉNEZ", "LOURENÇO", "IBÁÑEZ", "CONCEIÇÃO"),
        ("INÊS", "LUCÍA", "MARÍA JOSÉ", "ROCÍO", "BEGOÑA", "CONCEIÇÃO"),
        ("ÍÑIGO", "ÁLVARO", "JOÃO", "SEBASTIÃO", "JOSÉ MARÍA", "RAMÓN"),
        (("ESPAGNE", "MÁLAGA", "29001", "34"), ("ESPAGNE", "SEVILLA", "41001", "34"), ("PORTUGAL", "LISBOA", "1000-999", "351"),
         ("PORTUGAL", "PORTO", "4000-999", "351")),
        ("ESPAGNOL", "PORTUGAIS"),
        ("UNIVERSIDAD DE MÁLAGA", "UNIVERSIDADE DE LISBOA", "UNIVERSIDAD DE SEVILLA", "UNIVERSIDADE DO PORTO"),
        0.6,
    ),
)
PASSPORT_ORIGINS = ORIGINS + ORIGINS_BEYOND_FRENCH

STREETS = (
    "RUE DES ÉRABLES", "AVENUE HASSAN II", "BOULEVARD DE LA RÉPUBLIQUE", "RUE 12", "CALLE 45",
    "AVENIDA REFORMA", "PHO HUE", "RUE DU COMMERCE", "ROUTE DE L'AÉROPORT", "CHEMIN DES CRÊTES",
    "AVENUE BOURGUIBA", "RUE PRINCIPALE", "LOT 7 CITÉ ESPOIR", "RUE GAMBETTA", "JALAN MERDEKA",
)
EMAIL_DOMAINS = ("GMAIL.COM", "YAHOO.FR", "HOTMAIL.COM", "OUTLOOK.FR", "ORANGE.FR", "LAPOSTE.NET", "NAVER.COM")

# (field of study, occupations that fit it, job titles, employer examples)
CAREERS = (
    ("GÉNIE CIVIL", ("INGÉNIEUR CIVIL", "TECHNICIEN EN GÉNIE CIVIL"), ("INGÉNIEUR DE PROJET", "CHEF DE CHANTIER")),
    ("SOINS INFIRMIERS", ("INFIRMIÈRE", "INFIRMIER AUXILIAIRE"), ("INFIRMIÈRE", "INFIRMIER DE NUIT")),
    ("INFORMATIQUE", ("PROGRAMMEUR", "ANALYSTE EN INFORMATIQUE"), ("DÉVELOPPEUR WEB", "ANALYSTE")),
    ("COMPTABILITÉ", ("COMPTABLE", "TECHNICIEN COMPTABLE"), ("COMPTABLE", "AIDE-COMPTABLE")),
    ("MÉCANIQUE INDUSTRIELLE", ("MÉCANICIEN INDUSTRIEL", "SOUDEUR"), ("MÉCANICIEN", "CHEF D'ÉQUIPE")),
    ("ÉDUCATION PRÉSCOLAIRE", ("ÉDUCATRICE À L'ENFANCE", "ENSEIGNANT"), ("ÉDUCATRICE", "INSTITUTEUR")),
    ("CUISINE", ("CUISINIER", "BOUCHER"), ("CHEF DE PARTIE", "CUISINIER")),
    ("ÉLECTROTECHNIQUE", ("ÉLECTRICIEN", "TECHNICIEN EN ÉLECTRONIQUE"), ("ÉLECTRICIEN", "TECHNICIEN")),
    ("PHARMACIE", ("PHARMACIEN", "TECHNICIEN EN PHARMACIE"), ("PHARMACIEN", "ASSISTANT")),
    ("GESTION DES AFFAIRES", ("DIRECTEUR DES VENTES", "AGENT D'ADMINISTRATION"), ("GÉRANT", "ADJOINT ADMINISTRATIF")),
    ("AGRONOMIE", ("AGRONOME", "OUVRIER AGRICOLE"), ("AGRONOME", "CONSEILLER AGRICOLE")),
    ("CAMIONNAGE", ("CAMIONNEUR",), ("CHAUFFEUR POIDS LOURD", "LIVREUR")),
)
EMPLOYERS = (
    "SONATRACH", "ORANGE SA", "GROUPE OCP", "VINGROUP", "SAMSUNG", "HÔPITAL SAINT-LOUIS", "ECOPETROL",
    "BOLLORÉ", "TOTALENERGIES", "BANQUE ATLANTIQUE", "MAIRIE DE LYON", "LYCÉE VICTOR-HUGO", "TATA MOTORS",
    "CLINIQUE PASTEUR", "VINCI CONSTRUCTION", "AUCHAN", "ATTIJARIWAFA BANK", "SODECI",
)
QUEBEC_CITIES = ("MONTRÉAL", "QUÉBEC", "LAVAL", "GATINEAU", "SHERBROOKE", "LÉVIS", "TROIS-RIVIÈRES", "SAGUENAY")
DIPLOMA_YEARS_AFTER_BIRTH = {"SECONDARY": 18, "POSTSECONDARY": 20, "BACHELOR": 22, "MASTER": 24, "DOCTORATE": 28}

# ------------------------------------------------------------------------- transliteration

# Letters with no decomposition into a capital plus an accent the form knows.
_SPECIAL = {"Œ": "OE", "Æ": "AE", "ß": "SS", "Ø": "O", "Ł": "L", "Đ": "D", "Þ": "TH", "’": "'"}


def to_form_text(text: str) -> str:
    """`text` as a person writes it in the comb boxes: capitals, the accents of the form's
    charset kept (É, È, Ç, Ï...), every other accent dropped (Á → A, Ñ → N, Ã → A) and
    letters outside it spelled out (Œ → OE, as French forms usually ask)."""
    out = []
    for ch in text.upper():
        if ch in TEXT_CHARSET:
            out.append(ch)
        elif ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        else:
            base = unicodedata.normalize("NFD", ch)[0]
            out.append(base if base in TEXT_CHARSET else "")
    return "".join(out)


# ------------------------------------------------------------------------------- people


@dataclass(frozen=True)
class Applicant:
    """One candidate: the data document they would write, and where its values come from."""

    fields: dict  # data document fields as written on paper (docs/interface.md shapes)
    origin: str
    transliterated: dict = field(default_factory=dict)  # field -> the spelling before transliteration
    defect: str | None = None  # what break_document spoiled, None for a valid document

    @property
    def document(self) -> dict:
        return {"fields": dict(self.fields)}


def _pick(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


def _day_between(rng: np.random.Generator, start: date, end: date) -> date:
    return start + timedelta(days=int(rng.integers(0, (end - start).days + 1)))


def _fill_pattern(rng: np.random.Generator, template: str) -> str:
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    return "".join(
        str(rng.integers(10)) if ch == "9" else _pick(rng, letters) if ch == "A" else ch for ch in template
    )


def _fits(f, value: str) -> bool:
    return len(value) <= len(f.cells)


def _text(rng, form, name: str, candidates, translit: dict | None) -> str:
    """A candidate spelling that fits the field's comb: as in the passport when `translit` is
    None, else transliterated for the form (and the passport spelling kept in `translit`)."""
    f = form.field(name)
    if translit is None:
        return _pick(rng, [c for c in candidates if _fits(f, c)])
    options = [c for c in candidates if _fits(f, to_form_text(c))]
    chosen = _pick(rng, options)
    written = to_form_text(chosen)
    if written != chosen:
        translit[name] = chosen
    return written


def _email(rng, given: str, family: str) -> str:
    def clean(s: str) -> str:  # an address is ASCII: ŁUKASZ is LUKASZ there, ĐỨC is DUC
        return "".join(ch for ch in fold(s) if ch.isascii() and ch.isalnum())

    g, fam = clean(given.split()[0]), clean(family.split()[0] if family else "X")
    style = int(rng.integers(4))
    local = (f"{g}.{fam}", f"{g[0]}{fam}", f"{fam}.{g}{rng.integers(1, 99)}", f"{g}{fam}{rng.integers(70, 99)}")[style]
    domain = _pick(rng, EMAIL_DOMAINS)
    return f"{local[:35 - len(domain)]}@{domain}"  # 36 boxes: a long name shortens the local part


def _passport(rng) -> str:
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    n_letters = int(rng.integers(0, 3))
    n_digits = int(rng.integers(7, 10)) - n_letters
    return "".join(_pick(rng, letters) for _ in range(n_letters)) + "".join(str(rng.integers(10)) for _ in range(n_digits))


def make_applicant(rng: np.random.Generator, *, as_in_passport: bool = False,
                   origins: tuple[Origin, ...] = ORIGINS) -> Applicant:
    """A valid, plausible application: every required field, cross-field rules satisfied.
    Names, cities and institutions as in the passport (`as_in_passport`) or transliterated
    to the French accented capitals (see the module's docstring)."""
    form = load_form()
    weights = np.array([o.weight for o in origins])
    origin = origins[int(rng.choice(len(origins), p=weights / weights.sum()))]
    tr: dict | None = None if as_in_passport else {}
    f: dict = {}

    sex = str(rng.choice(["F", "M", "X"], p=[0.49, 0.49, 0.02]))
    given_pool = origin.given_f if sex == "F" else origin.given_m if sex == "M" else origin.given_f + origin.given_m
    f["family_name"] = _text(rng, form, "family_name", origin.family, tr)
    f["given_names"] = _text(rng, form, "given_names", given_pool, tr)
    signature = _day_between(rng, *SIGNATURE_WINDOW)
    birth = _day_between(rng, date(1966, 1, 1), date(2002, 12, 31))
    f["birth_date"] = birth.isoformat()
    f["sex"] = sex
    country, city, postal, phone_prefix = _pick(rng, origin.places)
    f["country_of_birth"] = country
    f["citizenship"] = country if rng.random() < 0.9 else _pick(rng, origin.countries)
    if rng.random() < 0.8:
        f["mother_tongue"] = _pick(rng, origin.tongues)
    f["passport_number"] = _passport(rng)
    f["passport_expiry"] = _day_between(rng, signature + timedelta(days=200), date(2036, 12, 31)).isoformat()

    residence = country
    if rng.random() < 0.12:  # living abroad: the address is elsewhere
        residence, city, postal, phone_prefix = _pick(rng, (
            ("FRANCE", "PARIS", "75011", "33"), ("ÉMIRATS ARABES UNIS", "DUBAÏ", "", "971"),
            ("ÉTATS-UNIS", "MIAMI", "33101", "1"), ("BELGIQUE", "BRUXELLES", "1050", "32")))
    f["address_line"] = to_form_text(f"{rng.integers(1, 250)} {_pick(rng, STREETS)}")[:36]
    f["city"] = _text(rng, form, "city", [city], tr)
    if postal and rng.random() < 0.9:
        f["postal_code"] = _fill_pattern(rng, postal)
    f["country_of_residence"] = residence
    national = "".join(str(rng.integers(10)) for _ in range(int(rng.integers(8, 11))))
    f["phone"] = (phone_prefix + national)[:15]
    if rng.random() < 0.92:
        f["email"] = _email(rng, f["given_names"], f["family_name"])

    status = str(rng.choice(["SINGLE", "MARRIED", "COMMON_LAW", "DIVORCED", "WIDOWED"], p=[0.42, 0.38, 0.12, 0.06, 0.02]))
    f["marital_status"] = status
    if status in ("MARRIED", "COMMON_LAW"):
        spouse_sex_pool = origin.given_m if sex == "F" else origin.given_f
        f["spouse_family_name"] = _text(rng, form, "spouse_family_name", origin.family, tr)
        f["spouse_given_names"] = _text(rng, form, "spouse_given_names", spouse_sex_pool, tr)
        f["spouse_birth_date"] = _day_between(rng, birth - timedelta(days=6 * 365), min(birth + timedelta(days=6 * 365), date(2004, 1, 1))).isoformat()
        f["spouse_accompanies"] = bool(rng.random() < 0.9)
        f["spouse_citizenship"] = f["citizenship"]

    children = 0
    if status != "SINGLE" or rng.random() < 0.1:
        children = int(rng.choice([0, 1, 2, 3, 4], p=[0.35, 0.25, 0.25, 0.1, 0.05]))
    f["children_count"] = str(children)
    first_child = max(birth.year + 20, 2000)  # under 30 for decades to come: max_age 30
    for k in range(1, min(children, 3) + 1):
        f[f"child{k}_given_names"] = _text(rng, form, f"child{k}_given_names", origin.given_f + origin.given_m, tr)
        f[f"child{k}_birth_date"] = _day_between(rng, date(first_child, 1, 1), date(2025, 6, 30)).isoformat()

    level = str(rng.choice(list(DIPLOMA_YEARS_AFTER_BIRTH), p=[0.08, 0.27, 0.35, 0.25, 0.05]))
    study, occupations, titles = CAREERS[int(rng.integers(len(CAREERS)))]
    f["education_level"] = level
    f["field_of_study"] = study
    diploma_year = min(birth.year + DIPLOMA_YEARS_AFTER_BIRTH[level] + int(rng.integers(0, 4)), 2025)
    f["diploma_year"] = str(diploma_year)
    if rng.random() < 0.85:
        f["diploma_country"] = country
    if rng.random() < 0.8:
        f["institution"] = _text(rng, form, "institution", origin.institutions, tr)
    f["mutual_recognition"] = bool(rng.random() < 0.08)

    f["occupation"] = _pick(rng, occupations)
    months = int(min(max(0, (2025 - diploma_year) * 12 - int(rng.integers(0, 24))), 600))
    f["work_experience_months"] = str(months)
    if months > 0 and rng.random() < 0.85:
        f["job1_title"] = _pick(rng, titles)
        f["job1_employer"] = _text(rng, form, "job1_employer", EMPLOYERS, tr)
        f["job1_hours_per_week"] = str(int(rng.choice([35, 38, 40, 40, 42, 45, 48])))
        start = _day_between(rng, date(diploma_year, 6, 1), date(2024, 6, 1))
        f["job1_from"] = start.isoformat()
        if rng.random() < 0.4:
            f["job1_to"] = _day_between(rng, start + timedelta(days=90), date(2025, 12, 31)).isoformat()

    levels = ["NONE", "BASIC", "INTERMEDIATE", "ADVANCED"]
    francophone = origin.key in ("france", "maghreb", "west_africa") or "FRANÇAIS" in origin.tongues
    f["french_level"] = "ADVANCED" if francophone and rng.random() < 0.8 else str(rng.choice(levels, p=[0.1, 0.3, 0.4, 0.2]))
    f["english_level"] = str(rng.choice(levels, p=[0.15, 0.35, 0.35, 0.15]))
    if rng.random() < 0.6:
        test = str(rng.choice(["TEF", "TCF", "DELF", "NONE"], p=[0.4, 0.3, 0.2, 0.1]))
        f["french_test"] = test
        if test != "NONE":
            f["french_test_date"] = _day_between(rng, date(2023, 1, 1), signature - timedelta(days=10)).isoformat()
    if rng.random() < 0.4:
        f["english_test"] = str(rng.choice(["IELTS", "CELPIP", "NONE"], p=[0.6, 0.2, 0.2]))

    family = str(rng.choice(["NONE", "PARENT", "SIBLING", "CHILD", "OTHER"], p=[0.7, 0.05, 0.13, 0.02, 0.1]))
    f["quebec_family"] = family
    if family != "NONE":
        f["quebec_family_city"] = _text(rng, form, "quebec_family_city", QUEBEC_CITIES, tr)
    if rng.random() < 0.2:
        stay = _day_between(rng, date(2015, 1, 1), date(2025, 6, 1))
        f["quebec_stay_from"] = stay.isoformat()
        f["quebec_stay_to"] = (stay + timedelta(days=int(rng.integers(7, 200)))).isoformat()
    f["previous_application"] = bool(rng.random() < 0.1)

    f["settlement_region"] = str(rng.choice(["MONTREAL", "QUEBEC", "OTHER"], p=[0.6, 0.2, 0.2]))
    f["funds_available"] = str(int(rng.integers(30, 400)) * 100)
    f["financial_contract_signed"] = True
    if rng.random() < 0.12:
        f["representative_name"] = to_form_text(f"ME {_pick(rng, ('LAPOINTE', 'BOUCHARD', 'NGUYEN', 'TREMBLAY', 'COHEN'))} {_pick(rng, ('SOPHIE', 'MARC', 'LINH', 'ÉRIC'))}")
        f["representative_member_no"] = str(int(rng.integers(100000, 999999)))
    f["declaration_signed"] = True
    f["signature_date"] = signature.isoformat()

    documents = {
        "doc_birth_certificate": True, "doc_passport": True, "doc_diplomas": True,
        "doc_work_proof": months > 0, "doc_language_test": "french_test_date" in f or f.get("english_test") not in (None, "NONE"),
        "doc_marriage_certificate": status in ("MARRIED", "COMMON_LAW"), "doc_children_birth": children > 0,
        "doc_financial_proof": True, "doc_fee_receipt": True,
    }
    for name, enclosed in documents.items():
        if rng.random() < 0.9:  # some people leave the checklist half done: it is optional
            f[name] = "ENCLOSED" if enclosed else "NA"

    applicant = Applicant(fields=f, origin=origin.key, transliterated=tr or {})
    problems = validate(applicant.document, form, today=date(2026, 11, 1))
    if problems:  # a bug in this generator, never the candidate's: fail loudly
        raise AssertionError(f"generated an invalid applicant: {[str(p) for p in problems]}")
    return applicant


# ------------------------------------------------------------------ deliberate defects

DEFECTS = (
    "married_without_spouse",
    "passport_expired_at_signature",
    "missing_required",
    "not_signed",
    "children_not_listed",
    "single_with_spouse",
)


def break_document(applicant: Applicant, rng: np.random.Generator, defect: str | None = None) -> Applicant:
    """A copy of `applicant` with one labelled mistake a real candidate makes."""
    defect = defect or _pick(rng, DEFECTS)
    f = dict(applicant.fields)
    tr = dict(applicant.transliterated)
    if defect == "married_without_spouse":
        f["marital_status"] = "MARRIED"
        for name in ("spouse_family_name", "spouse_given_names", "spouse_birth_date", "spouse_accompanies", "spouse_citizenship"):
            f.pop(name, None)
    elif defect == "passport_expired_at_signature":
        signed = date.fromisoformat(f["signature_date"])
        f["passport_expiry"] = (signed - timedelta(days=int(rng.integers(1, 400)))).isoformat()
    elif defect == "missing_required":
        name = _pick(rng, ("birth_date", "passport_number", "field_of_study", "occupation", "phone", "city"))
        f.pop(name, None)
        tr.pop(name, None)
        defect = f"missing_required:{name}"
    elif defect == "not_signed":
        f["declaration_signed"] = False
    elif defect == "children_not_listed":
        # The count says more children than section 4 lists (or fewer, when all three rows are used).
        listed = sum(1 for k in (1, 2, 3) if f.get(f"child{k}_given_names"))
        f["children_count"] = str(listed + int(rng.integers(1, 3))) if listed < 3 else "1"
    elif defect == "single_with_spouse":
        if f["marital_status"] in ("MARRIED", "COMMON_LAW"):
            f["marital_status"] = "SINGLE"
        else:
            f["spouse_family_name"] = f["family_name"]
            f["spouse_given_names"] = "ALEX"
    else:
        raise ValueError(f"unknown defect {defect!r}; use one of {', '.join(DEFECTS)}")
    return Applicant(fields=f, origin=applicant.origin, transliterated=tr, defect=defect)


def make_people(count: int, seed: int, *, invalid_share: float = 0.15) -> list[Applicant]:
    """`count` applicants from `seed`, about `invalid_share` of them with one labelled defect."""
    rng = np.random.default_rng(seed)
    people = []
    for _ in range(count):
        person = make_applicant(rng)
        if rng.random() < invalid_share:
            person = break_document(person, rng)
        people.append(person)
    return people
