"""Rules for illegal drugs: producing, trading or smuggling them."""

from __future__ import annotations

from offcoder.ai.safety.patterns import (
    BENIGN,
    NEAR,
    REFER_MAKE,
    Rule,
    asking,
    has,
    rule,
    sentence,
    then,
)
from offcoder.ai.safety.verdict import Category

_DRUG = (
    # (":meth:" is the Sphinx role for a method, in every Python docstring)
    r"(?:(?<!:)meth(?:amphetamine)?|crystal meth|heroin|fentanyl|carfentanil|nitazenes?|cocaine|"
    r"crack(?= (?:cocaine|rocks?|from (?:coke|cocaine)|out of (?:coke|cocaine)))|lsd|mdma|ecstasy|"
    r"dmt|ghb|gbl|ketamine|psilocybin|magic mushrooms|shrooms|pcp|opium|mephedrone|bath salts|"
    r"krokodil|(?:counterfeit|fake|pressed) (?:pills|xanax|oxy\w*|percocet|adderall)|m30s?)\b"
    # the drug named as the subject of health or data work: "fentanyl test strips", "cocaine
    # seizures", "heroin overdose deaths"
    r"(?![- ](?:test\w*|strips?|overdose\w*|addiction|recovery|treatment|deaths?|statistics|stats|"
    r"data\w*|polic\w*|seizures?|vaccines?|awareness|use disorder|epidemic|crisis))"
)
_PRODUCE = (
    r"(?:synthe(?:si[sz]\w*|sis)|cook\w*|manufactur\w*|produc(?:e|ing)|make|making|extract\w*|"
    r"grow\w*|cultivat\w*|brew\w*|refin\w*|press\w*|cut(?:ting)?|turn|convert\w*|lab for|"
    r"precursors? (?:for|to make)|recipe for|route (?:for|to)|ingredients for|(?:method|process|"
    r"procedure|technique)s? (?:for|of))"
)
# Street names, which count only where the trade around them is plain ("dead drops", "stealth
# shipping", "on the darknet"): on their own they are also a soft drink and a garden weed.
_DRUG_SLANG = (
    r"(?:coke|blow|molly|mandy|weed|kush|xans|xannies|xanax|percs|percocets?|oxys?|roxys|fent|"
    r"smack|crank|ket|shrooms|pills|xtc|tabs|acid|grow[- ]?ops?|grow ?house)\b"
)
_TRADE_STRONG = (
    r"(?:dead[- ]?drops?|stealth[- ]?(?:ship\w*|pack\w*|mail\w*|deliver\w*)|darknet|dark ?web|dnm|"
    r"vendor (?:shops?|pages?|accounts?)|on the street|street (?:price|level|corner)s?|per gram|"
    r"by the gram|(?:an? )?(?:eight|8)[- ]?balls?|re-?up\w*|my plug|trap (?:house|phone)|"
    r"burner phones?|launder\w*|without (?:getting )?(?:caught|busted|flagged|noticed)|"
    r"without (?:the )?(?:cops|police|feds|dea|narcs|anyone|my (?:parents|landlord)) (?:knowing|"
    r"noticing|finding out)|so (?:the )?(?:cops|police|feds|dea|narcs|irs|bank) (?:won't|can't|"
    r"don't|doesn't|never|will never)|to (?:(?:other |my )?(?:students|classmates|schoolmates|"
    r"coworkers)|kids|teens|minors|clubgoers|ravers)|at (?:parties|festivals|raves|clubs|school|"
    r"the club)|bitcoin|btc|xmr|monero|crypto (?:checkout|payments?|only)|(?:to|"
    r"for) (?:the )?dealers|(?:won't|don't|doesn't|can't|never|without)(?: get(?:ting)?|"
    r" be(?:ing)?)? (?:flagged|banned|detected|removed|taken down)|(?:\d+ )?(?:kilos?|kgs?|keys|"
    r"bricks|ounces|zips|pounds|lbs|grams) of|sell\w* (?:ounces|grams|eighths|zips|kilos)|"
    r"across (?:state lines|the border|borders)|(?:an?|one|\d+) (?:kilo|key|brick|ounce|zip|pound|"
    r"lb|gram|eighth|quarter|half)s? of|by the (?:pill|gram|ounce|tab|bag|point)|markup|"
    r"profit margin|at (?:my |the )?(?:college|school|uni|university|campus|work|job|dorms?)|"
    r"where (?:it'?s|it is|they're|they are|\w+ is) (?:illegal|not legal|banned))"
)
# Prescription drugs, which are trade when sold without one.
_RX = (
    r"(?:xanax|alprazolam|valium|diazepam|oxycodone|oxycontin|oxys?|percocets?|adderall|ritalin|"
    r"vicodin|hydrocodone|codeine|tramadol|klonopin|benzos?|opioids?|painkillers)\b"
)
# Money from dealing made to look clean.
_LAUNDER = (
    r"(?:launder\w*|(?:run|wash|clean|funnel|push|move|hide|layer|filter|pass)\w* (?:the |my |our |"
    r"all (?:the |my )?|this )?(?:\w+ )?(?:cash|money|proceeds|profits|earnings|income) (?:from|of|"
    r"through|via|into)|(?:fake|front|shell) (?:business\w*|compan\w*|car ?wash\w*|restaurants?|"
    r"laundromats?|invoices?|stores?)|front business\w*|so (?:the )?(?:bank|irs|tax ?man|hmrc|"
    r"feds)\w* (?:doesn't|don't|won't|can't|never|wouldn't) (?:flag|notice|see|ask|report|know|"
    r"find|catch))"
)
_PILLS = (
    r"(?:pills?|tablets?|(?:xanax|xan|benzo|alprazolam) bars|xans|m30s?|oxys|percs|percocets?|"
    r"roxys|blues)\b"
)
_PRECURSOR = (
    r"(?:precursors?|pseudo(?:ephedrine)?|ephedrine|safrole|p2p|phenylacetone|ergotamine|ergot|gbl|"
    r"red phosphorus|anhydrous ammonia|lithium strips|(?:cold|allergy|sinus) (?:pills|tablets|"
    r"medicine))\b"
)
# Materials only a drug cook starts from, and who says "first we take the precursor".
_COOK_CONTEXT = (
    r"(?:pseudo(?:ephedrine)?|ephedrine|safrole|p2p|phenylacetone|ergotamine|ergot|gbl|red "
    r"phosphorus|anhydrous ammonia|lithium strips|jesse|walt(?:er)?|heisenberg|mr white|"
    r"blue (?:meth|stuff|product|crystal|sky))\b"
)
_TRADE = (
    r"(?:sell\w*|deal|dealing|traffic\w*|smuggl\w*|ship\w*|mail\w*|move|push\w*|buy\w*|order\w*|"
    r"source|score|distribut\w*|stock\w*)"
)
_TRADE_CONTEXT = (
    r"(?:to sell|for sale|for resale|resale|on the street|street[- ](?:corner|deal\w*|price|level)|"
    r"orders?|dead[- ]?drops?|escrow|vendors?|buyers?|customers|per gram|kilos?|sales|dealing|"
    r"dealers?|trafficking|market(?:place)?s?|darknet|dark ?web|launder\w*|ads|adverts?|"
    r"advertis\w*|listings?|clients|stash|shipments?|profits?|margins?)\b"
)
_STUDY = (
    r"statistic\w*|stats|data|datasets?|analy[sz]\w*|chart\w*|plot\w*|visuali[sz]\w*|news|"
    # "research chemicals" is what a grey-market shop calls what it sells
    r"headlines?|articles?|research(?! chem)\w*|stud(?:y|ies)|polic(?:y|ies)|seizures?|trivia|"
    r"quiz|history|report\w*|models?|modell?ing|estimat\w*|awareness|prevent\w*|treatment|"
    r"recovery|harm reduction"
)
_CHECKING = r"detect\w*|identif\w*|spot\w*|flag\w*|warn\w*|verif\w*|authenticat\w*|test\w*"
_LAW_EVASION = (
    r"(?:past (?:customs|the border|border (?:control|security|patrol)|airport security|security|"
    r"the dogs|sniffer dogs|drug dogs|x-?rays?|scanners)|without (?:getting |being )?(?:caught|"
    r"flagged|noticed|detected|stopped|searched|tracked|traced)|so (?:customs|the police|police|"
    r"cops|border (?:control|patrol)|nobody|no one|the feds|the dea|the post office|the irs|"
    r"the bank|(?:the )?(?:police |drug |sniffer |k-?9 )?dogs) (?:won't|can't|doesn't|don't|will "
    r"not|never|wouldn't|cannot) (?:notice|find|catch|see|flag|detect|know|suspect|smell|sniff)|"
    r"undetected|without (?:the )?(?:police|customs|the post office|"
    r"anyone) noticing|without a prescription|no prescription)"
)


RULES: tuple[Rule, ...] = (
    # --- drugs: producing, trading or smuggling illegal drugs
    rule(
        Category.drugs,
        "produce",
        rf"\b{_PRODUCE}\b{then(_DRUG, 30, unless=rf'{BENIGN}|{_STUDY}')}|"
        + asking(
            rf"{_DRUG} (?:\w++ )?(?:synthesis|production|recipe|route|lab|cook|extraction|"
            r"manufactur\w*)\b"
        )
        + "|"
        + sentence(
            has(
                _PILLS,
                r"(?:counterfeit|fake|look\w* (?:exactly |just )?like (?:the )?(?:real|genuine|"
                r"legit|pharmacy|pharmaceutical|actual)|(?:nobody|no one|anyone|people) (?:can|"
                r"could|will|would)(?:n't| not| never)? tell|pill press\w*|press\w*)\b",
                unless=rf"{_STUDY}|{_CHECKING}|pharmaceutical (?:manufactur\w*|industry|"
                r"compan\w*|plants?|factor\w*)|industr\w*|how (?:do|does|did) (?:pill|tablet)s?|"
                r"explain\w*",
            ),
            # a cook's instructions: "First we take the precursor and", "then dissolve the
            # pseudoephedrine"; who cooks is said in this sentence, the step here or in the next
            has(rf"(?:{_DRUG}|{_COOK_CONTEXT})", unless=_STUDY)
            + has(
                r"(?:first|then|next|now|step (?:one|1|2|two)|start by|begin by)\b",
                r"(?:take|mix|add|dissolve|combine|heat|reduce|react|cook|extract|crush|grind|wash|"
                r"filter|boil|pour|stir|get|pull|separate|isolate)\w* (?:[\w-]++ ){0,2}?"
                rf"{_PRECURSOR}",
                unless=_STUDY,
                across=True,
            ),
            has(_DRUG, unless=_STUDY) + has(REFER_MAKE, unless=_STUDY, across=True),
            # "the easiest drug to make and sell to other students"
            has(
                r"(?:illegal |illicit |street |hard |party |recreational |club )?drugs?\b",
                r"(?:make|cook|produce|grow|brew|synthesi[sz]e|manufacture)(?:s|d|ing)?\b",
                r"(?:sell|deal|push|flip|hustl)\w*|customers|buyers",
                unless=rf"{_STUDY}|pharma\w*|compan\w*|generic|prescri\w*|fda|clinic\w*|"
                r"patent\w*|legal\w*|pricing|insur\w*|medic\w*|hospitals?|doctors?|discovery|"
                r"trials?|startups?|biotech|makers|industry|manufacturers",
            ),
            needs=rf"(?:{_DRUG}|{_PILLS}|{_COOK_CONTEXT}|drugs?\b)",
        ),
    ),
    rule(
        Category.drugs,
        "trade",
        rf"\b{_TRADE}\b{then(_DRUG, 40)}|"
        + sentence(
            has(_DRUG, _TRADE_CONTEXT, unless=_STUDY),
            has(
                r"(?:(?:street|drug)[- ]?deal(?:s|ing|ers?)|dealing (?:operation|business|empire|"
                r"ring|crew|network)|trap house|(?:hid|disguis|conceal|"
                r"mask)\w* (?:\w++ ){0,2}drug (?:orders|sales|deals|payments|transactions|"
                r"shipments|deliveries)|drug money)\b",
                unless=_STUDY,
            ),
            has(
                rf"(?:{_DRUG}|{_DRUG_SLANG})",
                r"(?:sell|deal|push|move|ship|traffic|smuggl|distribut|order|buy|supply|stock|"
                r"serve|vend|flip|re-?up)\w*|customers?|buyers?|clients|menu|shop|store|checkout|"
                r"ad|ads|adverts?|listings?|promo\w*",
                _TRADE_STRONG,
                unless=_STUDY,
            ),
            has(
                r"dead[- ]?drops?",
                r"(?:customers?|buyers?|clients|orders?|menu|shop|vendors?|pay\w*|btc|bitcoin|xmr|"
                r"monero|crypto)\b",
                unless=rf"{_STUDY}|spy\w*|espionage|games?|novel|story|files?|secure|encrypt\w*|"
                r"messages?",
            ),
            has(
                r"(?:darknet|dark ?web|dnm|onion|tor) (?:markets?|marketplaces?|shops?|vendors?|"
                r"stores?|sites?)|stealth[- ]?(?:ship\w*|pack\w*|mail\w*|deliver\w*)",
                r"(?:sell|deal|push|move|ship|vend|stock|run|open|set up|start)\w*",
                unless=rf"{_STUDY}|investigat\w*|law enforcement|police|take ?down|taken down|"
                r"seiz\w*",
            ),
            has(
                _LAUNDER,
                rf"(?:{_DRUG}|{_DRUG_SLANG}|deal(?:ing|ers?)|trap|re-?up|drugs?)",
                unless=rf"{_STUDY}|essay|criminolog\w*|detect\w*|aml|anti[- ]money|compliance|"
                r"investigat\w*|explain\w*|how (?:do|does|did|would) (?:\w+ )?(?:cartels?|dealers|"
                r"gangs?|criminals?|traffickers|they|people)",
            ),
            # a dealer's books: "track my dealers, how many grams each one moves"
            has(
                r"(?:my|our|your) (?:street )?(?:dealers|runners|pushers|corner boys|plugs|"
                r"trappers)\b",
                r"(?:grams?|ounces?|oz|kilos?|zips?|eighths?|bricks?|packs?|re-?ups?|corners?|"
                r"the trap)\b",
                unless=r"gold|silver|bullion|coins?|metals?|cars?|vehicles?|cards?|antiques?",
            ),
            # a shop for prescription drugs with no prescription asked
            has(
                _RX,
                r"(?:without (?:a |any )?|no )(?:prescriptions?|rx|scripts?)",
                r"(?:sell|ship|order|website|site|shop|store|supply|distribut|stock)\w*",
                unless=rf"{_STUDY}|dangerous|safe\w*|legal\w*|risk\w*|is it",
            ),
            needs=rf"(?:{_DRUG}|{_DRUG_SLANG}|{_RX}|street|drug\w*|deal\w*|trap\w*|dead|darknet|"
            r"dark ?web|dnm|onion|tor|vendor|stealth\w*|re-?up\w*|runners|pushers|corner boys|"
            r"plugs|trappers)",
        ),
    ),
    rule(
        Category.drugs,
        "smuggle",
        sentence(
            has(rf"(?:{_DRUG}|drugs|precursors?)", _LAW_EVASION, unless=_STUDY),
            has(
                r"(?:precursors?|pseudo(?:ephedrine)?|ephedrine|safrole|isosafrole|sassafras oil|"
                r"piperonal|p2p|mdp2p|phenylacetone|ergotamine|gbl|red phosphorus|"
                r"anhydrous ammonia|lithium strips|4-anpp|anpp|npp)\b",
                r"(?:without (?:getting |being )?(?:caught|flagged|noticed|detected|tracked|"
                r"traced|reported|logged|showing id)|(?:so|and) (?:nobody|no one|they|"
                r"the (?:pharmacy|pharmacist|dea|police|supplier)) (?:won't|doesn't|can't|"
                r"never) (?:know|notice|flag|report|ask)|in bulk|large quantit\w*|untraceabl\w*|"
                r"anonymous\w*)",
                unless=_STUDY,
            ),
            # hiding it for the journey: "hide cocaine in a car"
            has(
                rf"(?:hid|conceal|stash|smuggl|sneak|stuff)\w* (?:the |my |some |a |our )?(?:\w+ )?"
                rf"(?:{_DRUG}|drugs)(?: \w+){{0,3}} (?:in|inside|into|under|within) (?:a|an|the|my|"
                r"his|her|your|our)\b",
                unless=rf"{_STUDY}|documentar\w*|journalis\w*|how (?:do|did|does) (?:smugglers|"
                r"cartels|traffickers|they|people)",
            ),
            has(
                _DRUG_SLANG,
                r"(?:customs|border|police|cops|k-?9|drug dogs|sniffer dogs|feds|dea|narcs|airport|"
                r"tsa|security|plane|flight|prison|jail)\b",
                r"(?:hid|conceal|stash|smuggl|sneak|pack|stuff|ship|mail|move)\w*",
                unless=_STUDY,
            ),
            needs=rf"(?:{_DRUG}|{_DRUG_SLANG}|drugs|{_PRECURSOR}|isosafrole|sassafras|piperonal|"
            r"mdp2p|4-anpp|anpp|npp)",
        )
        + rf"|\b(?:package|parcel|shipment|powder|suitcase|luggage|stash)\w*{NEAR}past "
        r"(?:customs|the border|border (?:control|security|patrol)|airport security|sniffer dogs|"
        r"drug dogs)\b",
    ),
)

# The objects this category's rules know, for `classifier.topic`.
TOPIC = rf"\b{_DRUG}"
