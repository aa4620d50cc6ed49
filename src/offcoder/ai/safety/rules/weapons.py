"""Rules for weapons: mass harm, and untraceable or illegal firearms."""

from __future__ import annotations

from offcoder.ai.safety.patterns import (
    ACT,
    NEAR,
    REFER_MAKE,
    RELATION,
    Rule,
    asking,
    has,
    rule,
    sentence,
)
from offcoder.ai.safety.verdict import Category

# For weapons any "how do I ..." counts as asking: nobody asks how to wire a detonator to
# defend against one (and a word such as "detect" or "history" still lets it pass).
_HOW = (
    r"(?:how (?:do|can|could|would|should|might|will) (?:i|we|you|one|someone|somebody|a person|"
    r"people|anyone)|how to|(?:easiest|best|quickest|cheapest|simplest|fastest|safest|"
    r"most effective|most reliable) (?:way|method|means|recipe)s? (?:to|of|for)|ways? to|"
    r"what(?:'s| is| are) the (?:best|easiest|strongest|most powerful|cheapest|simplest|"
    r"deadliest)|what (?:do|would|will) (?:i|we|you|one) need (?:to|for)|where (?:can|do|could|"
    r"would|should|to) (?:i |we |you |one |someone )?(?:find|get|buy|download|order|source|"
    r"obtain)|(?:files?|stls?|blueprints?|plans|schematics?|cad files?|templates?) for|"
    r"is it possible to)"
)

_BOMB = (
    r"(?=bombs?\b)(?<!photo)(?<!photo-)(?<!photo )(?<!zip )(?<!fork )(?<!bath )(?<!seed )"
    r"(?<!stink )(?<!water )(?<!glitter )(?<!logic )(?<!f-)(?<!love )(?<!cherry )(?<!xml )"
    r"(?<!smoke )(?<!confetti )(?<!paint )(?<!color )(?<!colour )bombs?\b(?![- ]?(?:defus\w*|"
    r"disposal|squad|shelter|threats?|calorimet\w*|proof|scares?|sniff\w*|detect\w*|drills?|"
    r"effects?|emojis?|animations?|icons?|sprites?|sounds?))"
)
# A firearm, by name or by calibre ("9mm", ".22").
_GUN = (
    r"(?:guns?|rifles?|pistols?|handguns?|firearms?|shotguns?|revolvers?|ar-?15s?|ar|ak-?47s?|ak|"
    r"glocks?|\d+ ?mm|·\d{2,3}|\d{2,3} ?cal\w*|calibre|caliber)"
)
# Weapons nobody needs code or instructions for except to cause mass harm.
_WEAPON = (
    r"(?:(?:pipe|car|nail|pressure[- ]cooker|dirty|fertili[sz]er|ammonium nitrate|ammonia|anfo|"
    r"tnt|dynamite|c-?4|chemical|acid|chlorine|gas|letter|parcel|package|mail|truck|van|shrapnel|"
    r"fragmentation|homemade|home-made|diy|improvised|real|working|functional|live) bombs?|"
    # improvised and unmarked firearms
    r"zip guns?|pipe (?:guns?|shotguns?|pistols?)|slam[- ]?fire (?:shotguns?|guns?)|(?:homemade|"
    r"home-made|improvised|diy|makeshift|3d[- ]printed|printed) (?:guns?|firearms?|pistols?|"
    r"rifles?|shotguns?|smgs?|submachine guns?|machine ?guns?|suppressors?|silencers?|"
    r"receivers?|lowers?|frames?|auto sears?|switch\w*)(?! (?:props?|replicas?|models?|toys?))|"
    # plastic explosive by amount, not the C4 software diagram
    r"(?:how much|amount of|pounds? of|lbs? of|kg of|kilos? of|grams? of|blocks? of|bricks? of|"
    r"sticks? of|charges? of|enough) c-?4|c-?4 (?:explosives?|charges?|bricks?|blocks?)|"
    # a gun that fires, made from what is at hand
    r"(?=(?:guns?|shotguns?|pistols?|rifles?|"
    r"firearms?) )(?<!nerf )(?<!toy )(?<!water )(?<!paintball )(?<!airsoft )(?<!glue )(?<!nail )"
    r"(?<!heat )(?<!staple )(?<!spray )(?<!laser )(?<!foam )(?<!bubble )(?<!ray )(?<!squirt )"
    r"(?<!potato )(?:guns?|shotguns?|pistols?|rifles?|firearms?) (?:(?:that|which) (?:actually |"
    r"really |can |will )?(?:fires?|shoots?)|(?:from|out of|using|with) (?:a |an |"
    r"some )?(?:[\w-]+ ){0,2}?(?:pipes?|plumbing|steel|tubing|hardware|scrap|household|nails?|"
    r"parts))|plastic explosives?|(?:homemade|home-made|improvised|diy) explosives?|"
    r"(?:full[- ]?auto|fully[- ]automatic|select[- ]fire|"
    r"machine ?gun) (?:[\w-]+ )?(?:conversions?|conversion kits?|kits?|switch\w*|sears?|parts)|"
    r"(?:solvent traps?|oil filters?|fuel filters?)(?: kits?)? (?:into|to|as|so (?:it|"
    r"they) (?:works?|functions?) as) (?:a |an )?(?:[\w-]+ )?(?:suppressors?|silencers?)|"
    r"suicide (?:vests?|belts?)|(?:improvised )?explosive devices?|ieds?|detonators?|"
    r"blasting caps?|tatp|hmtd|rdx|petn|semtex|anfo|molotovs?(?: cocktails?)?|napalm|"
    r"nerve agents?|sarin|soman|tabun|vx (?:gas|nerve agent)|novichok|mustard gas|phosgene|ricin|"
    r"abrin|botulinum(?: toxin)?|anthrax|bioweapons?|biological weapons?|chemical weapons?|"
    r"(?:nuclear|atomic|radiological) (?:weapons?|bombs?|devices?)|(?:weapons?|"
    r"bomb)[- ]grade (?:uranium|plutonium)|ghost guns?|(?:drop[- ]in )?auto sears?|"
    r"lightning links?|glock switch\w*|(?:homemade|improvised|real|working|live|"
    r"frag\w*) grenades?|untraceable (?:guns?|firearms?|pistols?|rifles?|handguns?)|"
    rf"{_GUN} (?:suppressors?|silencers?)|(?:suppressors?|silencers?) (?:for|on) (?:(?:a|an|my|the|"
    rf"your) )?(?:[\w-]++ )?{_GUN}|(?:oil filter|solvent trap)s? (?:suppressors?|silencers?)|"
    r"(?:suppressors?|silencers?) (?:from|out of|using|with) (?:(?:a|an|the) )?(?:oil filter|"
    r"solvent trap)s?)\b"
)
# Words that name a weapon only when something is physically made from them.
_WEAPON_MATERIAL = (
    rf"(?:{_BOMB}|explosives?\b|explosive (?:charges?|devices?|vests?)|nitroglycerin|thermite|"
    r"gunpowder|black powder|flash powder|dynamite|tnt)"
)
# Making the weapons above (narrower than _PHYSICAL: "print the list of nerve agents" is not).
_MAKE_AGENT = (
    r"(?:make|making|build|building|assembl\w*|construct\w*|produce|producing|manufactur\w*|"
    r"synthesi[sz]\w*|cook|cooking|culture|culturing|cultivat\w*|grow|growing|extract|"
    r"extracting|enrich|enriching|refine|refining|weaponi[sz]\w*|brew|brewing|mix up|whip up|"
    r"recipe for|formula for|ingredients for|3d[- ]print\w*|turn|convert\w*|drill\w*|modif\w*)"
)
_PHYSICAL = (
    r"(?:make|making|build|building|assemble|construct|produce|manufactur\w*|synthesi[sz]\w*|cook|"
    r"mix|combine|culture|cultivate|grow|extract|enrich|refine|weaponi[sz]e|rig|wire up|detonate|"
    r"set off|3d[- ]print|print|turn (?:[\w-]++ ){1,4}into|recipe for|formula for|ingredients for)"
)
_GAME = (
    r"games?|minigames?|gameplay|players?|sprites?|levels|level(?! (?:a|an|the|his|her|their|that|"
    r"this|my|entire|whole)\b)|unity|godot|roblox|unreal|pygame|npcs?|enemy|enemies|boss|"
    r"power-?ups?|roguelike|shooter|fps|simulat\w*|history|historical|museum|treaty|drills?|"
    r"training|statistics|novel|movie|"
    # game names and mechanics: a bomb on a board of cells is a game piece
    r"minesweeper|bomberman|tetris|minecraft|fortnite|terraria|counter-?strike|cs:?go|valorant|"
    r"call of duty|left 4 dead|l4d|worms|first click|spawn\w*|respawn\w*|hitbox\w*|puzzles?|"
    r"arcade|rpg|mmo\w*|crafting|quests?|modding|loot|dungeons?|tabletop|xp|health ?bar|"
    r"cutscenes?|particle effects?|"
    # what happened then, not how to do it now
    r"how did|documentar\w*"
)
# Harm to many, where the weapon itself may go unnamed ("poison the water supply").
_HARM = (
    r"(?:(?:release|spread|disperse|spray|set|detonate|drop|fly|crash|plant|put|pour|slip|use|"
    r"throw|aerosoli[sz]e|launch|deploy|hide)\w* (?:it |them |off |[\w-]+ ){0,2}(?:in|into|on|"
    r"over|at|through|inside|near|onto|among) (?:(?:a|an|the|his|her|their|someone's|some|my|our|"
    r"your) )?(?:[\w-]+'s )?(?:crowd\w*|subway|metro|station|concert|stadium|school|mall|church|"
    r"mosque|synagogue|temple|festival|parade|rally|protests?|march|demonstrations?|vigils?|"
    r"building|city|water supply|reservoir|people|public|food|drink|coffee|tea|meal|air ?vents?|"
    r"ventilation)|to (?:kill|hurt|maim|poison|injure|harm|gas|sicken|incapacitate|blind|"
    r"burn) (?:as many|(?:(?:the|a|some|all|those|these|my|his|her|their|every|several|many|"
    r"lots of) )?(?:[\w-]+ )?(?:people|persons?|everyone|everybody|someone|somebody|him|her|them|"
    r"civilians|kids|children|students|neighbou?rs?|family|coworkers|classmates|crowds?|guests|"
    r"passengers|occupants|residents|inmates|officers|cops|police|soldiers|worshippers|customers|"
    r"shoppers|fans|attendees|audience))|(?:use|throw|spray|pour|"
    r"splash)\w* (?:\w+ ){0,2}?on (?:(?:my|his|her|their|the|a) )?(?:[\w-]+ )?(?:people|humans|"
    rf"civilians|crowds?|someone|somebody|him|her|them|kids|students|{RELATION})\b(?!')|(?:knock|"
    r"put) (?:someone|somebody|him|her|them|people|a person|(?:my|his|her) [\w-]+) (?:out|"
    r"unconscious|to sleep)|(?:start|cause) (?:a|an) (?:pandemic|epidemic|outbreak)|"
    r"mass casualt\w+|maximum (?:casualties|damage|deaths|spread|harm)|as many (?:people|"
    r"casualties) as possible|into (?:an? )?aerosol|aerosoli[sz]\w* (?:it|them)|"
    r"poison\w* (?:(?:the|a|our|their|his|her|my [\w-]+'s) )?(?:[\w-]+ )?(?:water supply|"
    r"reservoir|wells?|food supply|punch bowl)|(?:put|slip|add|mix)\w* (?:\w+ ){0,2}?(?:in|"
    r"into) (?:his|her|their|its|my [\w-]+'s|someone's|the) (?:[\w-]+ )?(?:food|drink|coffee|tea|"
    r"meal|water|wine|beer|bottle)\b|(?:for|against) (?:a|an|the|my|our|his|her|"
    r"their) (?:[\w-]+ )?(?:school|church|mosque|synagogue|temple|concert|stadium|mall|crowd|"
    r"parade|rally|festival|subway|station|courthouse|police station|government building)|"
    # destroying a place or a vehicle: "bring down a small building", "take out a car"
    r"(?:bring|knock) down (?:(?:a|an|the|that|this|his|her|their) )?(?:[\w-]+ ){0,2}?(?:building|"
    r"bridge|house|tower|plane|aircraft|wall|structure|office|block)|blow (?:up|open|out) "
    r"(?:a|an|the|his|her|their|that|this|my [\w-]+'s) \w+|take out (?:a|an|the|his|her|their|"
    r"that|this) (?:[\w-]+ )?(?:car|truck|building|house|bridge|crowd|target|vehicle|convoy|tank|"
    r"door|wall|power (?:station|grid)|substation|transformer)|(?:destroy|level|flatten|demolish|"
    r"wreck|blow apart) (?:a|an|the|his|her|their|that|this|my [\w-]+'s) (?:[\w-]+ )?(?:car|truck|"
    r"building|house|bridge|crowd|target|vehicle|convoy|tank|"
    r"door|wall|power (?:station|grid)|substation|transformer)|breach\w* (?:(?:the|a|an|his|her|"
    r"their|that) )?(?:[\w'-]+ ){0,2}?(?:door|wall|gate|vault|safe)|(?:burn|melt)\w* (?:through|"
    r"into) (?:(?:a|an|the|his|her|their|my [\w-]+'s|someone's) )?(?:[\w'-]+ ){0,2}?(?:car|"
    r"engine|door|safe|lock|vault|atm|wall|engine block))"
)
_AGENT = (
    rf"(?:{_WEAPON}|{_WEAPON_MATERIAL}|(?:toxic|poison|chlorine|nerve|mustard) gas|charges?\b|"
    r"c-?4\b|fertili[sz]er|ammonium nitrate|chloroform|ether|rohypnol|roofies|sedatives?|"
    r"tranquili[sz]ers?|flamethrowers?|incendiar\w*|acid\b|agents?\b|pathogens?|cultures?\b|"
    r"virus\w*|bacteri\w*|spores|toxins?|poison\w*|chemicals?|"
    r"drones?)"
)
_FIREARM = (
    r"(?:guns?|handguns?|pistols?|rifles?|firearms?|revolvers?|shotguns?|ar-?15s?|ak-?47s?|glocks?|"
    r"lower receivers?|80% lowers?|(?:ar|ak|pistol|glock|rifle|gun)[- ]?(?:lowers?|receivers?|"
    r"frames?)|suppressors?|silencers?)\b"
)
_SERIAL_GONE = (
    r"(?:remov|grind|grinding|fil|scrub|eras|obliterat|drill|defac|sand)\w* (?:off |out |away )?"
    r"(?:the |its |their )?serial(?: numbers?)?"
)
_NO_CHECK = (
    r"(?:(?:no|without (?:[\w-]++ ){0,3}?|skip\w* (?:the )?|avoid\w* (?:the )?|bypass\w* "
    r"(?:the )?|get\w* around (?:the )?|dodg\w* (?:the )?|evad\w* (?:the )?)(?:(?:a|an|any|the) )?"
    r"(?:nics |federal |required |usual )?(?:background checks?|nics checks?|(?:atf )?(?:form )?"
    r"4473s?)|unserial\w*|untraceable)"
)
# Someone the law bars from buying a gun, and buying one for someone else (a straw purchase).
_PROHIBITED = (
    r"(?:felon(?:y|ies|s)?|criminal record|(?:a|my) record|convictions?|convicted|restraining "
    r"order|protective order|domestic (?:violence|assault|battery)|prohibited (?:person|"
    r"possessor)|on (?:probation|parole)|(?:can't|cannot|can not|won't|wouldn't|couldn't) "
    r"(?:legally )?(?:pass|clear|get through) (?:a |the )?(?:background )?checks?|(?:banned|barred|"
    r"not allowed|prohibited|disqualified) from (?:owning|buying|having|possessing|purchasing)|"
    r"i'm (?:1[0-7]|under 18|under 21|underage|too young)|failed (?:a |the |my )?(?:background |"
    r"nics )?checks?|(?:was|got|been|were) (?:denied|rejected) (?:by |at )?(?:nics|the "
    r"(?:background check|gun store|dealer)))"
)
_UNTRACEABLE = (
    r"(?:untraceable|unserial\w*|no serial(?: numbers?)?|without (?:\w+ ){0,2}?(?:a |"
    rf"any )?serial(?: numbers?)?|{_SERIAL_GONE}|never engrave a serial|(?:no|without (?:a |any )?|"
    r"skip\w* (?:the )?|avoid\w* (?:the )?|bypass\w* (?:the )?|"
    r"get around (?:the )?)background checks?|unregistered|off[- ]paper|(?:can't|cannot|can not|"
    r"won't) be traced|not traceable|without (?:[\w-]++ ){0,3}?(?:atf |nfa )?(?:paperwork|"
    rf"tax stamps?|form ?[14]s?|registration|registering)|{_NO_CHECK})"
)


RULES: tuple[Rule, ...] = (
    # --- weapons: mass harm, untraceable or illegal firearms
    rule(
        Category.weapons,
        "build",
        sentence(
            # (the weapon first: most sentences lack one, and the dearer ask is never looked for)
            has(_WEAPON, asking(_WEAPON, rf"(?:{ACT}|{_HOW})"), unless=_GAME, chars=1000),
            has(rf"{_PHYSICAL} (?:[\w'-]++ ){{0,3}}{_WEAPON_MATERIAL}", unless=_GAME),
            has(rf"{_MAKE_AGENT}\b (?:[\w'-]++ ){{0,2}}{_WEAPON}", unless=_GAME),
            # (named in this sentence, "the steps to make it" here or in the next)
            has(rf"(?:{_WEAPON}|{_WEAPON_MATERIAL})", unless=_GAME)
            + has(REFER_MAKE, unless=_GAME, across=True),
            # "the best explosive to make at home"
            has(
                r"(?:best|easiest|cheapest|strongest|simplest|most powerful|deadliest) (?:[\w-]+ )?"
                r"(?:explosives?|bombs?|poisons?|toxins?|nerve agents?|chemical weapons?|"
                r"bioweapons?|guns?|firearms?) (?:to|you can|i can|one can) (?:make|build|cook|mix|"
                r"produce|synthesi[sz]e|3d print|print)",
                unless=_GAME,
            ),
            # an oxidiser packed into a pipe is a pipe bomb, named or not
            has(
                r"(?:potassium (?:nitrate|chlorate|perchlorate)|ammonium (?:nitrate|perchlorate)|"
                r"black powder|gunpowder|flash powder|smokeless powder|match heads?)",
                r"(?:pack|stuff|fill|pour|tamp|load)\w* (?:\w+ ){0,4}?(?:into|in) (?:a |an |the )?"
                r"(?:[\w-]+ )?(?:pipes?|pressure cookers?|(?:steel|metal|iron|copper) (?:tubes?|"
                r"casings?))\b",
                unless=rf"{_GAME}|rockets?|motors?|propellant|candy|nozzles?",
            ),
            # the mixture itself, unnamed: fertiliser soaked in fuel oil is ANFO
            has(
                r"(?:ammonium nitrate|fertili[sz]er)",
                r"(?:fuel oil|diesel|kerosene|nitromethane)\b",
                r"(?:mix|combin|add|soak|pour|stir|blend)\w*",
                unless=_GAME,
            ),
            needs=rf"(?:{_WEAPON}|{_WEAPON_MATERIAL}|ammonium|fertili[sz]er|potassium|match heads?|"
            r"smokeless powder|bombs?|poisons?|toxins?|guns?|firearms?)",
            chars=1000,
        ),
    ),
    rule(
        Category.weapons,
        "mass-harm",
        sentence(
            has(
                rf"{_HARM}\b",
                _AGENT,
                unless=rf"{_GAME}|prevent\w*|protect\w*|safeguard\w*|secur(?:e|ity|ing)|defen[cd]\w*",
            ),
            # the intent said outright, the means asked for: "hurt as many people as possible at
            # the parade, what should I use"
            has(
                r"(?:hurt|kill|injur|harm|maim|attack|murder)\w* (?:as many (?:people|\w+) as "
                r"(?:possible|i can)|(?:a lot of|lots of|many|the most|dozens of|hundreds of|"
                r"loads of) (?:people|kids|students|civilians)|everyone (?:at|in)|a crowd)",
                r"(?:what|which|how|best|use|weapons?|get|make|build|buy)\b",
                unless=rf"{_GAME}|prevent\w*|stop\w*|protect\w*|security|report\w*",
            ),
        ),
    ),
    rule(
        Category.weapons,
        "untraceable-firearm",
        sentence(
            has(rf"{_UNTRACEABLE}\b", _FIREARM),
            has(_NO_CHECK, r"(?:buy|sell|ship|order|get|source|vendor|seller|dealer)\w*\b"),
            has(
                _PROHIBITED,
                rf"(?:buy|get|obtain|purchase|acquire|score|find|own|have)\w* (?:[\w-]++ ){{0,2}}?"
                rf"{_FIREARM}",
                r"(?:how|where|best|easiest|quickest|cheapest|help|can i|could i|way)\b",
                unless=r"legal\w*|lawful\w*|rights?|restor\w*|expung\w*|lawyers?|attorneys?|"
                r"eligib\w*|appeal\w*|pardon\w*|allowed to|is it|(?<!how )(?<!where )(?<!what )can "
                r"(?:i|a \w+|felons?|minors?) (?:legally )?(?:buy|own|get|have|possess|purchase)",
            ),
            has(
                r"(?:buy|purchase|pick up|get|order)\w* (?:(?:a|the|my|me a|me the|that|this|"
                rf"one) )?(?:[\w-]++ )?{_FIREARM} for me\b|straw (?:purchas|buy)\w*|(?:put|"
                rf"register)\w* (?:the |a )?(?:[\w-]++ )?{_FIREARM} (?:in|under) (?:his|her|their|"
                r"someone else's|(?:my|a) [\w-]+'s) name",
                r"(?:how|where|help|best|easiest|can|could|without|so|because|since)\b",
                unless=r"illegal\w*|laws?|legal\w*|explain\w*|what is|what's|defin\w*|report\w*|"
                r"detect\w*|penalt\w*|prosecut\w*|sentenc\w*|history|statistic\w*|data",
            ),
            has(
                _SERIAL_GONE,
                r"(?:police|cops|forensic\w*|law enforcement|atf|trace\w*|recover\w*)\b",
            ),
            # past the checkpoint: "smuggle a gun onto a plane"
            has(
                rf"(?:smuggl|sneak)\w* (?:a |my |the |an )?(?:[\w-]+ )?(?:{_FIREARM}|explosives?|"
                rf"{_BOMB}) (?:onto|on|into|through|past|in)\b|(?:get|bring|carry|take)\w* (?:a |"
                rf"my |the |an )?(?:[\w-]+ )?(?:{_FIREARM}|explosives?|{_BOMB}) (?:through|"
                r"past) (?:airport |tsa |the )?(?:security|metal detectors?|scanners?|"
                r"checkpoints?)",
                unless=rf"{_GAME}|legal\w*|declar\w*|checked bag\w*|tsa rules|allowed",
            ),
            needs=rf"(?:{_FIREARM}|background checks?|nics|(?:form )?4473|unserial\w*|untraceable|"
            r"serial|straw|explosives?|bombs?)",
        ),
    ),
    rule(
        Category.weapons,
        "auto-conversion",
        asking(
            r"(?:to|into|for) (?:full[- ]?auto\w*|fully[- ]automatic|automatic fire|select[- ]fire|"
            r"a machine ?gun)\b",
            r"(?:convert\w*|conversion|turn\w*|modif\w*|make)",
        )
        + "|"
        + sentence(
            has(
                r"(?:(?:install|fit|add|put|buy|get|order|print|mill|make|"
                r"build)\w* (?:[\w-]++ ){0,3}(?:auto sears?|lightning links?|glock switch\w*|"
                r"(?:full[- ]?auto )?conversion kits?)|(?:fire|shoot)s? (?:full[- ]?auto|"
                r"fully automatic))\b",
                unless=_GAME,
            )
        ),
    ),
    rule(
        Category.weapons,
        "weaponise",
        r"\bweaponi[sz]\w* (?:(?:the|a|an|my|this|our|your) )?(?:[\w-]++ )?(?:drones?|uavs?|"
        r"quadcopters?|robots?|rc (?:planes?|cars?)|pathogens?|virus\w*|bacteri\w*|cultures?|"
        r"anthrax|toxins?|agents?)\b|\b(?:mount|attach|rig|strap|tape|bolt)\w* (?:a |an |"
        rf"the )?(?:[\w-]++ )?(?:guns?|firearms?|explosives?|{_BOMB}|charges?|"
        rf"grenades?){NEAR}(?:to|on|under|onto) (?:a |the |my |your )?(?:drones?|uavs?|"
        r"quadcopters?)\b|"
        # a drone that drops or fires the weapon
        + sentence(
            has(
                r"(?:drones?|uavs?|quadcopters?|multicopters?|fpv)\b",
                r"(?:drop|release|deliver|carry|fire|detonat|launch|dispens|dump)\w* (?:(?:a|an|"
                rf"the|some|my|its|two|three|\w+) )?(?:[\w-]++ )?(?:grenades?|explosives?|{_BOMB}|"
                r"charges?|ieds?|molotovs?|munitions?|mortars?|payloads? of (?:explosives?|"
                r"chemicals?|poison\w*))",
                unless=_GAME,
            )
        ),
    ),
)

# The objects this category's rules know, for `classifier.topic`.
TOPIC = rf"\b(?:{_WEAPON}|{_FIREARM})|\b{_BOMB}"
