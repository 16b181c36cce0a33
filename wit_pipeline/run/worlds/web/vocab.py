"""The words the web world writes pages with: captions, page chrome, article text, other languages.

Plain data plus the small functions that combine it. Kept apart from the page
generator so the generator reads as page structure, not word lists.

Every English caption is descriptive (what is in the picture, where, when) and built
from the words below, so a query list built from the same words (`query_list.write_queries`)
matches them the way a Wikipedia-derived list matches real alt-texts.
"""
from __future__ import annotations

import random

# ------------------------------------------------------------------ English captions

ANIMALS = (
    "horse", "dog", "cat", "red fox", "golden retriever", "border collie", "bald eagle", "barn owl",
    "grey heron", "brown bear", "polar bear", "elephant", "giraffe", "zebra", "lion", "tiger", "cheetah",
    "dolphin", "humpback whale", "sea turtle", "honey bee", "monarch butterfly", "dragonfly", "hummingbird",
    "peacock", "flamingo", "penguin", "kangaroo", "koala", "sheep", "goat", "cow", "donkey", "duck", "swan",
    "red deer", "moose", "grey wolf", "red squirrel", "rabbit", "hedgehog", "tree frog", "lizard", "crab",
    "jellyfish", "octopus", "salmon", "puffin", "robin", "kingfisher", "otter", "badger", "camel", "bison",
)
ANIMAL_ADJECTIVES = ("young", "old", "sleeping", "wild", "small", "large", "brown", "black", "white", "spotted",
                     "curious", "grey", "golden", "wet", "lone", "tired", "playful", "majestic")
ANIMAL_ACTIONS = (
    "grazing in a meadow", "running on the beach", "sleeping on a sofa", "swimming in a lake",
    "perched on a branch", "standing in the snow", "drinking from a river", "playing with a ball",
    "resting in the shade", "walking through tall grass", "looking at the camera", "hunting in the reeds",
    "crossing a dirt road", "feeding its young", "sitting on a fence post", "diving into the water",
)
PLACES = (
    "cathedral", "castle", "lighthouse", "harbour", "stone bridge", "waterfall", "mountain lake", "sand dunes",
    "rice terraces", "old town square", "train station", "market hall", "windmill", "vineyard", "lavender field",
    "fishing village", "canyon", "glacier", "volcano", "rainforest", "coral reef", "city skyline", "pier",
    "botanical garden", "abbey ruins", "covered bridge", "town hall", "clock tower", "suspension bridge",
    "farmhouse", "country road", "pine forest", "beach", "river valley", "mountain pass", "sea cliffs",
)
PLACE_ADJECTIVES = ("medieval", "ruined", "snow-covered", "misty", "crowded", "quiet", "ancient", "modern",
                    "Gothic", "Baroque", "abandoned", "colourful", "historic", "remote", "flooded", "sunlit")
PLACE_NAMES = (
    "Paris", "London", "Rome", "Kyoto", "Edinburgh", "Prague", "Lisbon", "Istanbul", "New York", "San Francisco",
    "Cape Town", "Sydney", "Reykjavik", "Venice", "Florence", "Barcelona", "Amsterdam", "Vienna", "Budapest",
    "Krakow", "Dubrovnik", "Seville", "Bruges", "Oxford", "Cambridge", "Quebec City", "Buenos Aires",
    "Rio de Janeiro", "Marrakesh", "Cairo", "Yosemite", "the Lake District", "the Scottish Highlands",
    "Cornwall", "Tuscany", "Provence", "Bavaria", "Norway", "Iceland", "Patagonia", "Hokkaido", "Tasmania",
)
LANDMARKS = (
    "Eiffel Tower", "Tower Bridge", "Colosseum", "Sagrada Familia", "Golden Gate Bridge", "Statue of Liberty",
    "Mount Fuji", "Taj Mahal", "Great Wall of China", "Sydney Opera House", "Brandenburg Gate", "Charles Bridge",
    "Neuschwanstein Castle", "Big Ben", "Acropolis", "Leaning Tower of Pisa", "Hagia Sophia", "Angkor Wat",
    "Stonehenge", "Mont Saint-Michel", "Machu Picchu", "Chichen Itza", "Forbidden City", "Alhambra",
)
VIEWPOINTS = ("the river", "the hills", "across the bay", "the old harbour", "a hot air balloon", "the east",
              "a nearby rooftop", "the main square", "the opposite bank", "the air")
TIMES = ("at sunset", "at dawn", "in winter", "in autumn", "at night", "after the rain", "in the early morning fog",
         "under a full moon", "in spring", "in summer", "on a cloudy day", "during a storm", "at low tide")
YEARS = tuple(str(year) for year in (1889, 1905, 1920, 1936, 1948, 1957, 1963, 1971, 1984, 1992, 1999, 2004,
                                     2008, 2011, 2014, 2016, 2018, 2019, 2021, 2022, 2023))
OBJECTS = (
    "vintage car", "red bicycle", "wooden chair", "ceramic teapot", "pair of leather boots", "mechanical watch",
    "steam locomotive", "sailing boat", "fishing boat", "hot air balloon", "electric guitar", "grand piano",
    "typewriter", "film camera", "brass telescope", "paper lantern", "kite", "wooden rowing boat", "tram",
    "double-decker bus", "motorcycle", "tractor", "rocking horse", "globe", "stack of old books", "oil lamp",
)
SURFACES = ("wooden table", "marble counter", "stone wall", "white background", "sandy beach", "wet pavement",
            "kitchen shelf", "grassy lawn", "workbench", "window sill")
FOODS = (
    "bowl of ramen", "loaf of sourdough bread", "plate of pasta", "slice of pizza", "chocolate cake",
    "bowl of fresh strawberries", "cup of coffee", "glass of red wine", "basket of apples", "grilled salmon",
    "green salad", "stack of pancakes", "bowl of tomato soup", "plate of sushi", "apple pie", "cheese board",
)
PEOPLE = ("A woman", "A man", "An elderly man", "An elderly woman", "A young girl", "A young boy", "Two children",
          "A group of students", "A street musician", "A fisherman", "A farmer", "A chef", "A cyclist",
          "A climber", "A nurse", "A firefighter", "A painter", "A baker", "A family", "Two friends")
PEOPLE_ACTIONS = (
    "reading a book", "riding a bicycle", "playing the violin", "cooking in a kitchen", "walking a dog",
    "repairing a fishing net", "climbing a rock face", "selling vegetables at a market", "painting a mural",
    "crossing the street", "waiting for a train", "sitting on a bench", "flying a kite", "planting a tree",
    "carrying a surfboard", "laughing at a cafe table", "hiking along a ridge", "feeding pigeons",
)
ART_FORMS = ("Oil painting", "Watercolour", "Marble statue", "Bronze sculpture", "Stained glass window",
             "Mosaic", "Fresco", "Woodcut", "Charcoal drawing", "Etching", "Tapestry", "Engraving")
ART_SUBJECTS = ("a harbour at dusk", "a young woman with a pearl earring", "sunflowers in a vase",
                "a storm at sea", "water lilies", "a night sky over a village", "a great wave", "the crucifixion",
                "a winter landscape with skaters", "a still life with fruit", "a horse and rider", "a city street")
ARTISTS = ("Leonardo da Vinci", "Rembrandt", "Vincent van Gogh", "Claude Monet", "Johannes Vermeer",
           "Katsushika Hokusai", "Frida Kahlo", "J. M. W. Turner", "Caravaggio", "Albrecht Durer",
           "Pieter Bruegel the Elder", "Edgar Degas")
MUSEUMS = ("the Louvre", "the Rijksmuseum", "the National Gallery", "the Uffizi", "the Prado",
           "the Metropolitan Museum of Art", "the British Museum", "the Art Institute of Chicago")
SCIENCE = (
    "Diagram of a plant cell", "Map of the Roman Empire in 117 AD", "Cross-section of a jet engine",
    "Skeleton of a Tyrannosaurus rex", "The Andromeda Galaxy", "The surface of Mars", "A total solar eclipse",
    "Model of the DNA double helix", "A steam engine in a museum", "Lightning over a wheat field",
    "Satellite image of a hurricane", "The Milky Way over a desert", "Electron micrograph of pollen grains",
    "A fossil ammonite", "Diagram of the human heart", "Map of the London Underground in 1933",
)
PRODUCTS = ("water bottle", "cotton t-shirt", "running shoes", "leather wallet", "wireless headphones",
            "coffee mug", "wool scarf", "hiking backpack", "linen bed sheets", "cast iron skillet", "desk lamp",
            "rain jacket", "canvas tote bag", "chef's knife", "yoga mat", "table lamp", "wrist watch")
PRODUCT_ADJECTIVES = ("stainless steel", "organic", "lightweight", "handmade", "waterproof", "vintage",
                      "recycled", "insulated", "slim", "oversized", "ceramic", "bamboo")
COLOURS = ("red", "blue", "green", "black", "white", "navy blue", "forest green", "charcoal grey", "mustard yellow",
           "burgundy", "sand beige", "sky blue")
PRODUCT_VIEWS = ("front view", "side view", "shown from above", "on a model", "with its box", "detail of the seams")
PHOTOGRAPHERS = ("Jane Doe", "Tom Baker", "Maria Lopez", "Kenji Sato", "Amira Haddad", "Lars Nilsson",
                 "Priya Nair", "Sam Carter")
AGENCIES = ("Reuters", "AP", "AFP", "Getty Images", "EPA", "staff photographer")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Short plain captions: real, descriptive, and short enough that a language identifier
# is unsure of them (issue 15: "Silhouette of a horse", "tiny coin thumbnail").
SHORT_CAPTIONS = (
    "Silhouette of a horse", "tiny coin thumbnail", "Red fox in snow", "Old stone bridge", "Sleeping cat",
    "Lighthouse at night", "Bowl of ramen", "Snowy mountain peak", "Autumn leaves", "Rainy street",
    "Wooden rowing boat", "Ripe strawberries", "Barn owl", "Sunflower field", "Foggy forest", "Desert road",
    "Steam train", "Coral reef fish", "Misty harbour", "Frozen waterfall", "Penguin chick", "Yellow tram",
)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _a(phrase: str) -> str:
    """The phrase with its indefinite article."""
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def long_caption(rng: random.Random) -> str:
    """A descriptive English caption of 6-25 words."""
    kind = rng.randrange(9)
    if kind == 0:
        return _cap(f"{_a(rng.choice(ANIMAL_ADJECTIVES))} {rng.choice(ANIMALS)} "
                    f"{rng.choice(ANIMAL_ACTIONS)} {rng.choice(TIMES)}")
    if kind == 1:
        return f"{rng.choice(PEOPLE)} {rng.choice(PEOPLE_ACTIONS)} in {rng.choice(PLACE_NAMES)}"
    if kind == 2:
        return f"View of the {rng.choice(LANDMARKS)} from {rng.choice(VIEWPOINTS)} {rng.choice(TIMES)}"
    if kind == 3:
        return (f"{rng.choice(ART_FORMS)} of {rng.choice(ART_SUBJECTS)} by {rng.choice(ARTISTS)}, "
                f"now in {rng.choice(MUSEUMS)}")
    if kind == 4:
        return (f"The {rng.choice(PLACE_ADJECTIVES)} {rng.choice(PLACES)} near {rng.choice(PLACE_NAMES)}, "
                f"photographed {rng.choice(TIMES)}")
    if kind == 5:
        return f"Close-up of {_a(rng.choice(OBJECTS))} on {_a(rng.choice(SURFACES))}"
    if kind == 6:
        return f"{_cap(rng.choice(FOODS))} on {_a(rng.choice(SURFACES))}, seen from above"
    if kind == 7:
        return (f"Aerial view of {rng.choice(PLACE_NAMES)} showing the {rng.choice(PLACES)} "
                f"and the {rng.choice(PLACES)}")
    return f"{rng.choice(SCIENCE)} ({rng.choice(YEARS)})"


def short_caption(rng: random.Random) -> str:
    """A descriptive English caption of 2-4 words."""
    kind = rng.randrange(4)
    if kind == 0:
        return rng.choice(SHORT_CAPTIONS)
    if kind == 1:
        return _cap(f"{rng.choice(ANIMAL_ADJECTIVES)} {rng.choice(ANIMALS)}")
    if kind == 2:
        return f"{rng.choice(LANDMARKS)} {rng.choice(('at night', 'in winter', 'at dawn'))}"
    return _cap(rng.choice(FOODS))


def news_caption(rng: random.Random) -> str:
    """A press-photo caption with its credit, as news sites print under a photo."""
    text = (f"{rng.choice(PEOPLE)} {rng.choice(PEOPLE_ACTIONS)} in {rng.choice(PLACE_NAMES)} "
            f"on {rng.choice(WEEKDAYS)}.")
    if rng.random() < 0.6:
        text += f" Photograph: {rng.choice(PHOTOGRAPHERS)}/{rng.choice(AGENCIES)}"
    return text


def wiki_caption(rng: random.Random) -> str:
    """A MediaWiki thumbnail caption."""
    kind = rng.randrange(5)
    if kind == 0:
        return f"The {rng.choice(LANDMARKS)} seen from {rng.choice(VIEWPOINTS)} in {rng.choice(YEARS)}"
    if kind == 1:
        return f"Self-portrait by {rng.choice(ARTISTS)}, executed in red chalk"
    if kind == 2:
        return f"{rng.choice(ART_FORMS)} of {rng.choice(ART_SUBJECTS)}, {rng.choice(MUSEUMS)}"
    if kind == 3:
        return _cap(f"{_a(rng.choice(ANIMALS))} in its natural habitat in {rng.choice(PLACE_NAMES)}")
    return rng.choice(SCIENCE)


def subject_caption(rng: random.Random, subject: str) -> str:
    """A caption of a picture of `subject` (a landmark, an animal or an artist)."""
    if subject in ARTISTS:
        return f"Portrait of {subject}, {rng.choice(ART_FORMS).lower()} from {rng.choice(MUSEUMS)}"
    return f"{_cap(subject)} photographed {rng.choice(TIMES)} in {rng.choice(YEARS)}"


def product_caption(rng: random.Random) -> str:
    return (f"{_cap(rng.choice(PRODUCT_ADJECTIVES))} {rng.choice(PRODUCTS)} in {rng.choice(COLOURS)}, "
            f"{rng.choice(PRODUCT_VIEWS)}")


# ------------------------------------------------------------------ page chrome (drop)

CHROME_SOCIAL = ("Facebook", "Twitter", "Share on Facebook", "Share on Twitter", "Share on Pinterest",
                 "Follow us on Instagram", "YouTube channel", "LinkedIn", "RSS feed", "Subscribe via RSS",
                 "See recent additions in RSS", "Share by email", "WhatsApp")
PAYMENT_LOGOS = ("Visa", "Mastercard", "PayPal", "American Express")
APP_BADGES = ("Download on the App Store", "Get it on Google Play")
TRUST_BADGES = ("Secured by SSL", "Creative Commons License", "Trustpilot", "Sponsored")
ARCHIVE_CHROME = ("(wayback logo)", "(navigation image)", "(movies pick)", "See recent additions in RSS")
CHROME_BADGES = PAYMENT_LOGOS + APP_BADGES + TRUST_BADGES + ARCHIVE_CHROME + ("Advertisement", "Back to homepage")
HEADER_ICONS = ("user icon", "menu icon", "hamburger menu", "email icon", "phone icon", "location pin icon",
                "globe icon", "heart icon", "X icon", "magnifying glass", "shopping bag")
ICONS = HEADER_ICONS + ("search icon", "texts icon", "movies icon", "audio icon", "software icon", "images icon",
                        "cart icon", "account", "close icon", "print icon", "calendar icon", "clock icon",
                        "comment icon")
BUTTONS = ("click here", "Click here to enlarge", "Read more", "Add to cart", "Add to basket", "Buy now",
           "Subscribe", "Download", "Next", "Previous", "next page", "arrow right", "arrow left", "Back to top",
           "Zoom in", "Play video", "play button", "Enlarge", "View larger image", "more")
RATINGS = ("5.00 out of 5 stars", "4.50 out of 5 stars", "4.00 out of 5 stars", "3.50 out of 5 stars",
           "Rated 4 out of 5", "Rated 4.5 out of 5", "4 stars", "5 stars", "\u2605\u2605\u2605\u2605\u2606", "4.5/5")
AVATARS = ("avatar", "user avatar", "Profile picture", "Gravatar", "{user} avatar", "{user}'s avatar",
           "Avatar of {user}")
USERNAMES = ("jsmith", "maria_k", "dave1987", "outdoorlover", "kitchen_witch", "techguy", "anna.b", "wanderer",
             "photog_ed", "lucy_reads")
TOO_SHORT = ("image", "photo", "pic", "img", "thumb", "fig. 2", "1", "-", "\u2026", "\U0001F600", "untitled",
             "ok", "x", "banner")
FLAGS = ("Flag of France", "Flag of Germany", "Flag of Japan", "Flag of Brazil", "Flag of Canada",
         "Flag of Italy", "Flag of India", "Flag of Spain")

# Site slogans and promo banners: English, descriptive-looking, and on every page of a
# site, so no pattern catches them; only their repetition across the site does.
SITE_BANNERS = (
    "Quality camping equipment since 1985", "Fresh flowers delivered to your door every week",
    "Your guide to the best hiking trails in the Alps", "Independent journalism from the heart of the city",
    "Handmade ceramics from our studio by the sea", "The home of classic cars and the people who love them",
    "Sign up for our weekly newsletter and never miss a recipe", "Free shipping on all orders over fifty dollars",
)


def file_name(rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind == 0:
        return f"IMG_{rng.randrange(10000):04d}.JPG"
    if kind == 1:
        return f"DSC_{rng.randrange(10000):04d}.jpg"
    if kind == 2:
        return f"DSC0{rng.randrange(10000):04d}"
    if kind == 3:
        return f"photo-{rng.randrange(1, 40)}.png"
    if kind == 4:
        return f"image{rng.randrange(1, 200):03d}.png"
    if kind == 5:
        day = f"{rng.randrange(2015, 2024)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
        return f"{day}_{rng.randrange(240000):06d}"
    if kind == 6:
        return f"{rng.getrandbits(48):012x}.jpg"
    return rng.choice(("banner_v2_final.png", "hero-image@2x.webp", "header-bg.jpg", "thumb_small.gif"))


def chrome_text(rng: random.Random, pool: tuple[str, ...]) -> str:
    return rng.choice(pool).replace("{user}", rng.choice(USERNAMES))


# ------------------------------------------------------------------ other languages

# Descriptive captions in other languages and scripts (drop: not English).
FOREIGN_CAPTIONS = {
    "de": ("Ein brauner Hund spielt im Schnee vor dem Haus", "Der Kölner Dom bei Nacht im Winter",
           "Blick auf die Altstadt von Heidelberg vom Schlossberg", "Eine Frau liest ein Buch auf einer Parkbank",
           "Frisches Brot und Brezeln in einer Bäckerei"),
    "fr": ("Un chat noir dort sur le rebord de la fenêtre",
           "Vue de la tour Eiffel depuis le Trocadéro au coucher du soleil",
           "Un marché provençal avec des paniers de légumes", "Deux enfants jouent sur la plage de Biarritz",
           "La cathédrale de Chartres sous la pluie"),
    "es": ("Un caballo blanco corre por la playa al amanecer", "Vista aérea de la Sagrada Familia en Barcelona",
           "Una mujer vende fruta en el mercado de Sevilla", "Las montañas nevadas de Sierra Nevada en invierno"),
    "it": ("Una gondola sul Canal Grande a Venezia", "Il Colosseo illuminato di notte",
           "Un piatto di pasta al pomodoro con basilico fresco", "Le colline della Toscana in autunno"),
    "pt": ("Um elétrico amarelo sobe uma rua de Lisboa", "Vista do Cristo Redentor no Rio de Janeiro",
           "Pescadores reparam as redes no porto"),
    "nl": ("Een windmolen aan de rivier bij zonsondergang", "Fietsers op een brug over de gracht in Amsterdam",
           "Tulpenvelden in de lente bij Lisse"),
    "pl": ("Rynek Główny w Krakowie zimą", "Stary most nad rzeką w mglisty poranek"),
    "sv": ("En röd stuga vid sjön en sommarkväll", "Norrsken över fjällen i Lappland"),
    "tr": ("Ayasofya'nın gün batımında görünümü", "Boğaz'da bir balıkçı teknesi"),
    "ru": ("Красная площадь в Москве зимой", "Белый медведь на льдине в Арктике",
           "Деревянная церковь на берегу озера"),
    "el": ("Η Ακρόπολη της Αθήνας το ηλιοβασίλεμα", "Ένα λευκό σπίτι με μπλε πόρτα στη Σαντορίνη"),
    "ja": ("夕暮れの富士山と湖", "京都の金閣寺と紅葉", "桜の下を歩く家族"),
    "zh": ("长城在秋天的景色", "西湖边的柳树和小船", "熊猫在竹林里吃竹子"),
    "ko": ("서울의 야경과 남산타워", "한옥 마을의 겨울 풍경"),
    "ar": ("غروب الشمس فوق الأهرامات في الجيزة", "سوق تقليدي في مراكش مليء بالتوابل"),
    "he": ("החומות של העיר העתיקה בירושלים", "שקיעה מעל חוף תל אביב"),
    "hi": ("ताजमहल सूर्योदय के समय", "बाज़ार में मसाले बेचता एक दुकानदार"),
}
# The words a site in that language puts around its pictures.
FOREIGN_CHROME = {
    "de": ("Startseite", "Suche", "Zum Warenkorb", "Logo der Zeitung", "Mehr lesen"),
    "fr": ("Accueil", "Rechercher", "Ajouter au panier", "Logo du journal", "Lire la suite"),
    "ja": ("ホーム", "検索", "カートに入れる", "ロゴ", "続きを読む"),
    "es": ("Inicio", "Buscar", "Añadir al carrito", "Logotipo", "Leer más"),
}
# Article prose in those languages, to fill foreign pages.
FOREIGN_PROSE = {
    "de": ("Die Stadt hat in den letzten Jahren viel in ihre Altstadt investiert.",
           "Am Wochenende kamen tausende Besucher zu dem Fest am Flussufer.",
           "Der Bürgermeister kündigte neue Radwege für das kommende Jahr an."),
    "fr": ("La ville a beaucoup investi dans la rénovation de son centre historique.",
           "Des milliers de visiteurs sont venus au festival ce week-end.",
           "Le maire a annoncé de nouvelles pistes cyclables pour l'année prochaine."),
    "ja": ("市は近年、旧市街の整備に多くの投資を行ってきた。", "週末の祭りには数千人の観光客が訪れた。",
           "市長は来年に向けて新しい自転車道の計画を発表した。"),
    "es": ("La ciudad ha invertido mucho en su casco antiguo en los últimos años.",
           "Miles de visitantes acudieron al festival durante el fin de semana.",
           "El alcalde anunció nuevos carriles bici para el próximo año."),
}


def foreign_caption(rng: random.Random, language: str | None = None) -> str:
    language = language if language in FOREIGN_CAPTIONS else rng.choice(sorted(FOREIGN_CAPTIONS))
    return rng.choice(FOREIGN_CAPTIONS[language])


# ------------------------------------------------------------------ English prose

FUNCTION_WORDS = ("the", "of", "and", "in", "to", "a", "was", "is", "for", "on", "as", "by", "with", "he", "that",
                  "at", "from", "his", "it", "an", "were", "are", "which", "this", "be", "or", "has", "had", "first",
                  "one", "their", "its", "new", "after", "but", "who", "not", "they", "have", "her", "she", "two",
                  "been", "other", "when", "there", "all", "during", "into", "school", "time", "may", "years")
PROSE_TEMPLATES = (
    "The {place} near {name} was built in {year} and restored after the war.",
    "Visitors often stop at the {place} to watch the {animal} {animal_action}.",
    "In {year}, {artist} completed a series of paintings of the {place}.",
    "Local guides recommend arriving {time}, when the {place} is quiet.",
    "The {object} on display was donated to {museum} in {year}.",
    "Our review of the {product} found it sturdy, light and easy to clean.",
    "Researchers counted more than {count} {animal} species in the {place} last year.",
    "The festival in {name} draws crowds from across the region every {season}.",
    "A short walk from the station leads to the {place_adj} {place} and its famous gardens.",
    "Critics praised the exhibition for its {art} and its careful lighting.",
)
WEB_WORDS = ("icon", "logo", "stars", "star", "click", "share", "facebook", "twitter", "subscribe", "download",
             "cart", "menu", "search", "home", "avatar", "profile", "picture", "photo", "image", "banner", "page",
             "next", "previous", "arrow", "button", "video", "rss", "email", "print", "thumbnail", "gallery")


def prose_sentence(rng: random.Random) -> str:
    return rng.choice(PROSE_TEMPLATES).format(
        place=rng.choice(PLACES), name=rng.choice(PLACE_NAMES), year=rng.choice(YEARS),
        animal=rng.choice(ANIMALS), animal_action=rng.choice(ANIMAL_ACTIONS), artist=rng.choice(ARTISTS),
        time=rng.choice(TIMES), object=rng.choice(OBJECTS), museum=rng.choice(MUSEUMS),
        product=rng.choice(PRODUCTS), count=rng.randrange(12, 400), season=rng.choice(("spring", "summer", "autumn")),
        place_adj=rng.choice(PLACE_ADJECTIVES).lower(), art=rng.choice(ART_FORMS).lower())


def headline(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        season = rng.choice(("spring", "summer", "autumn", "winter"))
        return f"Ten things to do in {rng.choice(PLACE_NAMES)} this {season}"
    if kind == 1:
        return f"The return of the {rng.choice(ANIMALS)} to {rng.choice(PLACE_NAMES)}"
    if kind == 2:
        return f"Inside the restoration of the {rng.choice(LANDMARKS)}"
    if kind == 3:
        return f"How to choose {_a(rng.choice(PRODUCTS))}"
    return f"{rng.choice(ARTISTS)} and the {rng.choice(PLACES)}: a new exhibition"
