"""Rules for covert surveillance: a specific person watched, located or read
without their knowledge or consent."""

from __future__ import annotations

from offcoder.ai.safety.patterns import NEAR, RELATION, Rule, asking, has, near, rule, sentence
from offcoder.ai.safety.verdict import Category

_PRIVATE = (
    r"(?:phones?|iphone|laptop|computer|pc|tablet|car|bag|purse|browser|account|sim|inbox|icloud|"
    r"messages|texts|chats|dms|e-?mails?|calls|voicemails?|location|whereabouts|movements|webcam|"
    r"camera|microphone|keystrokes|photos|screen|whatsapp|instagram|facebook|snapchat|house|"
    r"apartment|flat|home|diary|journal)"
)
# Someone the requester picked out: "this girl", "that streamer", "a guy on discord".
_PERSON = (
    r"(?:woman|man|girl|guy|person|lady|streamer|stranger|influencer|celebrity|youtuber|tiktoker|"
    r"vtuber|cosplayer|actress|actor|model|barista|waitress|cashier|nurse|gamer|instagrammer)"
)
_TARGET = (
    r"(?:(?:my|your|his|her|our|their) (?:(?:ex|former|current|new|teenage|adult|best|older|"
    rf"younger) )?{RELATION}(?:'s|s'|s)?\b|(?:this|that|a|one)(?: one)? (?:specific |particular |"
    rf"certain |random |[\w-]+ )?{_PERSON}(?:'s)?\b|"
    r"(?:someone|somebody)(?: else)?'s|another person'?s?|the person (?:i'm|i am|you're|you are|"
    r"we're) (?:tracking|following|watching|monitoring|spying on|stalking)|"
    # a pronoun counts with something private of theirs, or as the one watched
    rf"\b(?:her|his) (?:[\w-]++ )?{_PRIVATE}\b|(?:track|record|watch|follow|spy on|monitor|film|"
    r"photograph|locate|stalk|listen to)\w* (?:her|him)\b)"
)
_COVERT = (
    r"(?:secretly|covertly|surreptitiously|stealthily|in secret|on the sly|undetect(?:ed|abl[ey])|"
    r"behind (?:her|his|their|my \w+'s) back|sneak\w*|hid\b|hidd?en (?:[\w-]++ ){0,2}(?:cam\w*|"
    r"trackers?|recorders?|apps?|icon|mic\w*|gps|keyloggers?|extensions?|services?|devices?|from)|"
    r"staying hidden|hid(?:e|es|ing) (?:it|its|the|a|an|this|from|[\w-]+ from|"
    r"in the background)\b|silent(?:ly)?|while (?:she|he|they)(?:'s|'re| is| are)? (?:asleep|"
    r"sleeps|sleeping|in the shower|at work|away|not looking|out)|stealth\w*|(?:it|the app|"
    r"the icon) (?:doesn't|won't|does not|will not|never) (?:show|appear)\w*|(?:keep|stop|"
    r"prevent)\w* (?:her|him|them|my \w+|your \w+|the (?:person|target)) from (?:noticing|"
    r"finding out|knowing|seeing|suspecting|reali[sz]ing)|"
    # against what they said: "even if she turned on ghost mode", "she blocked me"
    r"even (?:if|though|when|after) (?:she|he|they)(?:'s|'ve| has| have|"
    r" had)? (?:\w++ )?(?:turned|switched|blocked|disabled|hid|hidden|set|made|changed|stopped|"
    r"removed|unfriended)\b|(?:she|he|they)(?:'s|'ve| has| have| had)? blocked me|(?:she|he|they|"
    rf"(?:my|your) (?:[\w-]+ )?{RELATION}) (?:changed|reset|updated|locked) (?:her|his|"
    r"their) (?:phone |new )?(?:passcode|password|pin|lock)|quietly|without (?:\w+ing )?(?:her|"
    r"him|them|his|their|anyone|the (?:person|owner|target)|my \w+)\b|without (?:the |any |"
    r"an? )?(?:\w++ )?(?:light|led|indicator|notification|alert|icon)s?\b|without (?:triggering|"
    r"showing|turning on|lighting) (?:\w++ ){0,3}(?:light|led|indicator|notification|alert|"
    r"icon)s?|with no (?:\w++ )?(?:notifications?|indicator|alerts?|icon)|(?:she|he|they|"
    r"the (?:person|target)(?: (?:i'm|i am|you're|you are) \w+)?) (?:must not|mustn't|should not|"
    r"shouldn't|won't|will not|can't|cannot|doesn't|does not|never|isn't|is not|won't be|"
    r"will never)(?: ever)? (?:find out|finds? out|know|notice|see|suspect|reali[sz]e|"
    r"be (?:notified|alerted|aware|told)|alerted|notified|aware|told|get (?:a |"
    r"any )?(?:notification|alert)))"
)
# Said consent: "she knows", "with his permission", "we both opted in".
_CONSENT = (
    r"(?:she|he|they) (?:knows?|agreed|agrees|consented|opted in|is aware|are aware)|each other|"
    r"we both|family sharing|with (?:her|his|their) (?:consent|permission|knowledge|agreement)|"
    r"opt(?:s|ed)?[- ]in|mutual\w*|both (?:of us )?(?:agree\w*|opt\w*|consent\w*)"
)
# What is watched: acts of watching and the private things they reach.
_SPY = (
    r"(?:track\w*|locat\w*|gps|spy\w*|monitor\w*|watch\w*|follow\w*|stalk\w*|read\w*|forward\w*|"
    r"mirror\w*|cop(?:y|ies)|intercept\w*|captur\w*|record\w*|screenshot\w*|screen ?shot\w*|log\w*|"
    r"keylog\w*|listen\w*|eavesdrop\w*|access\w*|get into|hack\w*|upload\w*|messag\w*|text\w*|sms|"
    r"whatsapp|dms|e-?mails?|calls|chats|webcam|camera|microphone|icloud|photos|browsing|"
    r"keystrokes|see (?:who|what|where|when|everything|all|every)|install\w*|snapchats?|snaps|"
    r"instagram|insta|facebook|messenger|tiktok|"
    r"hid(?:e|es|ing) (?:the |its )?(?:app |launcher )?icon)"
)
_SPY_TOOL = (
    r"(?:(?:gps |hidden |spy |tracking |magnetic )?trackers?|tracking (?:app|software|device|chip|"
    r"tag)s?|airtags?|spy(?:ware| ?apps?| ?cam\w*| software)|stalkerware|keyloggers?|key loggers?|"
    r"(?:hidden|spy|pinhole|nanny) cam\w*|(?:call|voice|audio) recorders?|monitoring (?:app|"
    r"software)|remote access trojans?|rats?|mspy|flexispy|spyzie|hoverwatch|eyezy|umobix|"
    r"cocospy|kidsguard|(?:the)?truthspy|xnspy|spyic|mobistealth|spyera|highster)"
)
_DEVICE = (
    r"(?:phones?|iphone|android|laptop|computer|pc|mac|macbook|tablet|ipad|car|bag|purse|browser|"
    r"device|router|account|sim|watch|keys|jacket|coat|wallet|bike|backpack)"
)
_STALK = (
    r"(?:so (?:i|you|we) (?:can|could) (?:show up|turn up|go there|be there|wait for|follow|find|"
    r"catch|confront|surprise|run into|meet|watch)|(?:follow|track|log|record|map|monitor|"
    r"watch|work out|figure out|find out|learn|know|predict|pin down|get|scrape|pull|compile|"
    r"reconstruct|piece together)\w* (?:her|his|their) (?:daily |every |real[- ]time |exact |"
    r"weekly |morning |usual |running )?(?:movements?|moves|routines?|whereabouts|schedule|habits|"
    r"routes?|commute)|everywhere (?:she|he) goes|(?:where|which (?:house|building|street|city)) "
    r"(?:this|that|a|the|my) (?:[\w-]++ ){0,2}(?:lives|works|sleeps|is staying)|"
    # when she is alone, or waiting for her to come out
    r"when (?:she|he)(?:'ll| will| is|'s|'d| would)? (?:be )?(?:alone|home alone|by (?:her|"
    r"him)self)|(?:wait|park|stand|hang around|loiter|sit)\w*(?: \w+){0,3} (?:outside|"
    r"near(?:by)?|across from|in front of|around the corner from)\b(?: [\w-]+){0,5}? (?:when|"
    r"until|for|as) (?:she|he) (?:\w+ )?(?:leaves|comes out|gets (?:home|off|out)|arrives|"
    r"goes out|walks out)|wait\w* for (?:her|him) to (?:come out|leave|get home|be alone|appear|"
    r"show up)|be there when (?:she|he) (?:leaves|comes out|gets (?:home|off)|arrives)|"
    rf"what time (?:does|do|did) (?:the|this|that) (?:[\w-]+ )?{_PERSON} (?:usually )?(?:leave|"
    r"get home|come home|go out|walk|run|jog)\w*)"
)
# Finding where a specific person lives or is: "find her new address", "figure out where he
# lives", "the home address of the streamer".
_FIND = (
    r"(?:find|finding|found|locat\w*|track\w* down|figur\w* out|work\w* out|pin\w* down|dig\w* up|"
    r"look\w* up|get|getting|uncover\w*|learn|know|tell me|see|discover\w*|determin\w*|"
    r"narrow\w* down|triangulat\w*|geolocat\w*|guess\w*|doxx?\w*|need|want|give me|get me)"
)
_WHICH_PLACE = (
    r"which (?:house|building|apartment|flat|street|city|town|neighbou?rhood|hotel|room|address|"
    r"gym|office) (?:does|did|do) (?:she|he|(?:this|that|my|the) (?:[\w-]+ )?(?:"
    rf"{RELATION}|{_PERSON})) (?:\w+ )?(?:live|stay|sleep|work|go)\w*"
)
_WHOSE = rf"(?:her|his|(?:this|that|my|the) (?:[\w-]+ )?(?:{RELATION}|{_PERSON})'s)"
_WHERE_THEY_ARE = (
    rf"(?:where (?:she|he|(?:this|that|my|the) (?:[\w-]++ )?(?:{RELATION}|"
    rf"{_PERSON})) (?:\w+ )?(?:lives|live|is living|is staying|stays|sleeps|works|is|goes|moved|"
    r"hangs out|will be|parks|is at)|which (?:house|building|apartment|flat|street|city|town|"
    rf"hotel|room|gym|office) (?:she|he|(?:this|that|my|the) (?:[\w-]+ )?(?:{RELATION}|"
    rf"{_PERSON})) (?:\w+ ){{0,3}}?(?:lives|stays|sleeps|works|is staying|goes|trains|works out|"
    rf"is at)|(?:her|his|(?:this|that|my|the) (?:[\w-]++ )?(?:{RELATION}|{_PERSON})'s) (?:(?:new|"
    r"current|real|exact|actual|home|street|physical|private|personal|precise|real-life|"
    r"irl) )*(?:address|apartment|flat|house|home|location|whereabouts|place|hotel)|(?:(?:home|"
    r"house|street|real|exact|physical|irl) )?address (?:of|for) (?:the |this |that |a |"
    rf"my )?(?:[\w'-]++ )?(?:{RELATION}|{_PERSON}))\b"
)
# Where a place is worked out from someone's posts: "based on the reflection in her story, she
# lives ..."
_GEOLOCATED = (
    r"(?:based on|from|judging (?:by|from)|given|using|in) (?:[\w'-]++ ){0,6}?(?:reflections?|"
    r"bus stops?|street signs?|backgrounds?|photos?|posts?|story|stories|streams?|videos?|"
    r"pictures?|check-?ins?|shadows?|landmarks?|skyline|views?|windows?|selfies?|exif|metadata|"
    r"geotags?)\b"
)
_FICTION = (
    r"novel|fiction|characters?|plot|chapter|fanfic\w*|screenplay|poem|game|songs?|lyrics?|rhym\w*"
)
# Who an account or a phone belongs to, when it is not the requester's.
_OWNER = (
    r"(?:(?:my|your) (?:(?:ex|former|current|new|teenage|adult|best|older|younger) )?"
    rf"{RELATION}(?:'s|s')|her|his|some(?:one|body)(?: else)?'s|another person's|(?:this|that)"
    rf"(?: one)? (?:[\w-]+ )?{_PERSON}'s)"
)
_ACCOUNT = (
    r"(?:accounts?|icloud|gmail|e-?mail|inbox|phone|iphone|android|instagram|insta|facebook|fb|"
    r"snapchat|snap|whatsapp|tiktok|twitter|messages|dms|texts|laptop|computer|pc|passcode|"
    r"password|pin|lock ?screen|profile|google|outlook|hotmail|yahoo|discord|telegram|calls|"
    r"voicemails?|conversations|chats|sms|location|photos|browsing|search history)\b"
)
# The people one has no business reading: everyone but one's own young children.
_PEER = (
    r"(?:ex|wife|husband|spouse|girlfriend|boyfriend|gf|bf|partner|fianc\w*|roommate|flatmate|"
    r"housemate|sister|brother|sibling|cousin|aunt|uncle|neighbou?r|coworker|co-worker|colleague|"
    r"boss|manager|employee|tenant|landlord|friend|crush|classmate|date|lover|ex-\w+)"
)
# A small tracker and its anti-stalking alerts.
_TAG = (
    r"(?:air ?tags?|tile (?:trackers?|mates?|pros?|slims?)|smart ?tags?|bluetooth (?:tags?|"
    r"trackers?|beacons?)|"
    r"(?=trackers?\b)(?<!issue )(?<!bug )(?<!time )(?<!habit )(?<!expense )(?<!fitness )"
    r"(?<!package )(?<!task )(?<!project )(?<!budget )(?<!error )trackers?|chipolo)\b"
)
_SILENCE_ALERT = (
    r"(?:never|not|doesn't|don't|won't|without|no) (?:[\w-]++ )?(?:trigger|set off|show|raise|"
    r"fire|send|cause|pop|give|make)\w* (?:[\w-]++ ){0,3}?(?:alerts?|notifications?|warnings?|"
    r"sounds?|beeps?|noise)|(?:disabl|bypass|suppress|defeat|avoid|evad|block|silenc|stop|kill|"
    r"remov|circumvent|prevent|break|muffl|mut)\w* (?:[\w-]++ ){0,4}?(?:(?:unknown|unwanted|"
    r"unfamiliar|anti-?stalking|separation|tracker|tracking|stalker|item)[- ](?:tracker |"
    r"tracking )?(?:alerts?|notifications?|warnings?|detection|protection|features?)|speakers?|"
    r"beep\w*|sounds?|alert(?:s|ing)?)|(?:turn|switch)\w* off (?:[\w-]++ ){0,3}?(?:alerts?|"
    r"notifications?|warnings?|speakers?|beep\w*|sounds?)|"
    r"get (?:[\w-]++ ){0,2}around (?:the )?(?:[\w-]++ ){0,2}(?:alerts?|notifications?|detection)"
)
# Placed so that the one it follows never finds it.
_NEVER_FINDS = (
    r"(?:so|and|where|that) (?:the [\w-]+|she|he|they|it|nobody|no one|[\w-]+)(?:'ll|'d| will|"
    r" would)? (?:never|won't|can't|doesn't|don't|will not|wouldn't|cannot)(?: ever)? (?:spot|"
    r"find|notice|see|discover|detect|know|reali[sz]e|look|hear|suspect|check)\w*|(?:keep|stop|"
    r"prevent)\w* (?:\w+ ){0,3}from (?:noticing|finding|seeing|spotting|discovering|detecting|"
    r"knowing)"
)
# Reasons to hide or silence a tracker that are not about a person: one's own things, theft.
_OWN_THINGS = (
    rf"{_CONSENT}|my own|mine|thie\w*|theft|stolen|burglar\w*|detect\w*|am i|is someone|"
    r"protect\w*|explain\w*|why|sweep\w*|scan\w*|remov\w* (?:a|any|the) (?:hidden )?trackers?|"
    r"signs|someone (?:hid|put|placed|planted)|check\w* (?:my|our|for|whether|if)"
)


RULES: tuple[Rule, ...] = (
    # --- surveillance: a specific person, watched without their knowledge or consent
    rule(
        Category.surveillance,
        "covert",
        sentence(has(_COVERT, _TARGET, rf"{_SPY}\b", unless=_CONSENT))
        + rf"|\b(?:spy|spying|snoop\w*|stalk|stalking|eavesdrop\w*)(?: on| into)? {_TARGET}",
    ),
    rule(
        Category.surveillance,
        "plant-device",
        rf"\b{_SPY_TOOL}{NEAR}(?:on|onto|in|into|inside|under|to) (?:{_TARGET}|her|his) "
        rf"(?:[\w-]++ )?{_DEVICE}\b",
    ),
    rule(
        Category.surveillance,
        "intercept",
        r"\b(?:clon\w*|intercept\w*|sniff\w*|captur\w* everything|cop(?:y|ies) of (?:all|every)\w*|"
        rf"sim[- ]swap\w*|spoof\w*){NEAR}{_TARGET} (?:[\w-]++ ){{0,2}}(?:sim|phone|texts|messages|"
        r"sms|calls|e-?mails?|whatsapp|chats|dms|traffic|inbox|voicemails?|icloud|sends)\b",
    ),
    rule(
        Category.surveillance,
        "stalk",
        sentence(has(_STALK, r"(?:she|he|her|him|his)\b", unless=_CONSENT)),
    ),
    rule(
        Category.surveillance,
        "locate",
        sentence(
            has(
                rf"{_FIND}\b{near(40)}{_WHERE_THEY_ARE}|{_WHICH_PLACE}|(?:what's|whats|what is) "
                rf"{_WHOSE} (?:(?:home|current|new|real|exact|street) )?(?:address|location|"
                r"whereabouts)",
                unless=rf"{_CONSENT}|{_FICTION}|my own|lost|shipping|deliver\w*|customers?|users?|"
                r"database|forms?|api|geocod\w*|crm|reconnect\w*|lost touch|reunit\w*|invit\w*|"
                r"wedding|funeral",
            ),
            # "I need to find my ex" where she moved
            has(
                r"(?:find|locate|track\w* down|hunt\w* down)\w* (?:my|your) (?:[\w-]+ )?(?:ex|"
                r"girlfriend|boyfriend|wife|husband|ex-\w+|crush)\b",
                r"(?:address|lives?|moved|location|where|house|apartment|flat)\b",
                unless=rf"{_CONSENT}|{_FICTION}|profile|account|on (?:instagram|facebook|tiktok|"
                r"linkedin|twitter)",
            ),
            has(
                _GEOLOCATED,
                r"(?:she|he|they) (?:\w++ ){0,2}?(?:lives?|is living|is staying|stays|sleeps|"
                r"works) (?:in|at|on|near|by|around)\b",
                unless=rf"{_CONSENT}|{_FICTION}",
            ),
        ),
    ),
    rule(
        Category.surveillance,
        "account-access",
        sentence(
            has(
                r"(?:(?:(?:get|getting|got|break|breaking|broke|log|logging|hack|hacking|sneak|"
                r"sneaking|login)(?: my way)? in(?:to)?|hack\w*|crack\w*|guess\w*|bypass\w*|"
                rf"brute[- ]?forc\w*) {_OWNER}|(?:access\w*|unlock\w*|listen\w* (?:to|in on)|"
                r"intercept|mirror|forward|record) (?:my|your) (?:(?:ex|former|current|new|adult|"
                rf"best|older|younger) )?{_PEER}(?:'s|s')) (?:[\w-]++ ){{0,2}}?{_ACCOUNT}|"
                # reading, which is only prying where what is read is private
                r"(?:open|read|go through|look through|see|view|check|monitor) (?:(?:my|your) "
                rf"(?:[\w-]+ )?{_PEER}(?:'s|s')|some(?:one|body)(?: else)?'s|another person's|"
                r"other people's) (?:[\w-]++ ){0,2}?(?:messages|texts|dms|imessages?|e-?mails|"
                r"inbox|calls|voicemails?|chats|whatsapp|sms|conversations|browsing|search history|"
                r"call logs?)\b",
                unless=rf"{_CONSENT}|forgot|locked out|recover\w*|asked me|passed away|died|"
                r"deceased|estate|for (?:her|him)|(?:she|he) (?:wants|asked|needs)|we share|"
                r"shared|family sharing|find my|life360",
            )
        ),
    ),
    rule(
        Category.surveillance,
        "partner-device",
        sentence(
            # reading a partner's messages: "who my girlfriend is texting ... read her messages"
            has(
                rf"(?:my|your) (?:[\w-]+ )?{_PEER}\b",
                r"(?:read|see|check|go through|look at|look through|access|view|"
                r"open)\w* (?:all )?(?:her|his) (?:private |personal |text |whatsapp |instagram |"
                r"facebook )?(?:messages|texts|dms|chats|e-?mails|inbox|call logs?|"
                r"browsing history|search history|photos)",
                unless=rf"{_CONSENT}|asked me|for (?:her|him)|(?:she|he) (?:wants|asked|needs)",
            ),
            # installing something on a partner's device that watches
            has(
                r"(?:install|put|load|sideload|plant|add)\w* (?:[\w'-]++ ){0,4}?(?:on|onto|in|"
                rf"into) (?:my|your) (?:[\w-]+ )?{_PEER}(?:'s|s') (?:[\w-]+ )?{_DEVICE}",
                r"(?:records?|logs?|tracks?|sends?|forwards?|monitors?|captures?|uploads?|see|"
                r"shows? me|mirrors?|copies)\b",
                unless=rf"{_CONSENT}|asked me|for (?:her|him)|(?:she|he) (?:wants|asked|needs)",
            ),
            # the camera or microphone of a partner's device
            has(
                r"(?:camera|webcam|cam|mic(?:rophone)?|screen|keyboard) (?:on|of|in|from) (?:my|"
                rf"your) (?:[\w-]+ )?{_PEER}(?:'s|s') (?:[\w-]+ )?{_DEVICE}",
                r"(?:turn\w* on|activat|enabl|access|watch|remote\w*|see|view|record|stream|spy|"
                r"listen)\w*",
                unless=rf"{_CONSENT}|asked me|for (?:her|him)|(?:she|he) (?:wants|asked|needs)",
            ),
            # who a partner talks to, or the codes sent to a partner's number
            has(
                r"(?:see|know|find out|check|figure out|tell me) (?:who|what) (?:my|your) "
                rf"(?:[\w-]+ )?{_PEER} (?:is |has been )?(?:messaging|texting|talking to|"
                r"chatting with|calling|dming|sleeping with|seeing|dating|emailing)|(?:get|"
                r"receive|intercept|see|read)\w* (?:her|his|their|my [\w-]+'s) (?:2fa|sms|"
                r"verification|otp|one-time|login|security) codes?",
                unless=rf"{_CONSENT}|asked me|for (?:her|him)|(?:she|he) (?:wants|asked|needs)",
            ),
            # "get all his texts sent to my phone"
            has(
                r"(?:get|have|make)\w* (?:all |every |a copy of )?(?:her|his) (?:\w+ )?(?:texts|"
                r"messages|calls|e-?mails|dms|chats|notifications|photos|location|sms)\w* (?:sent|"
                r"forwarded|copied|mirrored|delivered|redirected|going) to (?:me|my)\b",
                unless=rf"{_CONSENT}|asked me|for (?:her|him)|(?:she|he) (?:wants|asked|needs)",
            ),
            # everything a partner posts: "tracks every like and comment my ex makes"
            has(
                rf"(?:my|your) (?:[\w-]+ )?{_PEER}\b",
                r"(?:track|monitor|log|record|watch|scrap|alert|notif|check|text|ping|tell)\w*",
                r"(?:every|each|all|whenever|any time|anytime|the moment)\b",
                r"(?:likes?|comments?|posts?|story|stories|follows?|followers|check-?ins?|activity|"
                r"online|logs? in|messages|tweets?|status|location)\b",
                unless=rf"{_CONSENT}|asked me|for (?:her|him)|(?:she|he) (?:wants|asked|needs)",
            ),
            # a link that reports where the person who opens it is
            has(
                r"(?:links?|urls?|pages?|bots?|images?|pixels?)\b",
                r"(?:logs?|grabs?|captures?|gets?|collects?|records?|"
                r"sends? me)\b (?:\w+ ){0,3}?(?:ip|ip address|location|gps|coordinates)\b",
                rf"(?:{_TARGET}|(?:she|he) (?:clicks|opens)|this (?:guy|girl|person))",
                unless=rf"{_CONSENT}|our (?:users|visitors|customers)|analytics|my own",
            ),
            needs=rf"(?:{_PEER}|her|his|she|he|{_TARGET})",
        ),
    ),
    rule(
        Category.surveillance,
        "online-status",
        sentence(
            has(
                r"(?:goes|go|going|went|comes|come|coming|came|is|are|was|were|gets|get|got|says|"
                r"shows|showing|appears?) (?:as )?(?:online|offline)|last[- ]seen|online status|"
                r"(?:online|offline|active) (?:times?|activity|history)|(?:is|was) (?:active|"
                r"typing)",
                rf"(?:specific|particular|certain|{_TARGET})\b",
                r"(?:log|track|record|monitor|notif|alert|watch|ping|check|spy|every time|"
                r"whenever)\w*",
                unless=rf"{_CONSENT}|our (?:app|users|chat|platform|site|service|product)|my app|"
                r"(?:users?|players?|members?|customers?)\b",
            )
        ),
    ),
    rule(
        Category.surveillance,
        "hidden-tracker",
        sentence(
            has(
                _TAG,
                _SILENCE_ALERT,
                rf"(?:person|people|someone|somebody|victim|target|owner|she|he|her|him|they|them|"
                rf"anyone|whoever|carrier|driver|{RELATION})\b",
                unless=_OWN_THINGS,
            ),
            has(
                _SPY_TOOL,
                r"(?:hid(?:e|es|ing)|conceal\w*|stash\w*|tuck\w*|stick\w*|plant\w*|place\w*|"
                r"put\w*|mount\w*|attach\w*|tap(?:e|es|ed|ing)|glu\w*|velcro\w*|wedg\w*|slip\w*)\b",
                _NEVER_FINDS,
                unless=_OWN_THINGS,
            ),
        ),
    ),
    rule(
        Category.surveillance,
        "stalkerware",
        asking(r"stalkerware\b")
        + "|"
        # what stalkerware does, unnamed: hides its icon and reports the phone's whereabouts
        + sentence(
            has(
                r"hid(?:e|es|ing) (?:its|the|her|his) (?:app |launcher )?icon|(?:no|without (?:a |"
                r"any )?)(?:notification|icon)s?\b",
                rf"(?:upload|send|forward|report|mirror|cop(?:y|ies))\w*{near(40)}(?:location|"
                r"messages|texts|calls|photos|keystrokes|whatsapp|chats|screenshots)",
                unless=_OWN_THINGS,
            )
        ),
    ),
)

# The objects this category's rules know, for `classifier.topic`.
TOPIC = rf"\b{_SPY_TOOL}\b|{_STALK}"
