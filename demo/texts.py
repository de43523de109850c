"""The demo crawl's pages, written for parabeam: five topics translated into en, de and fr, and pages
that exist in one language only. demo/make_demo.py turns them into demo/demo.warc.wet."""
TOPICS = {
"river": {
"en": "The river flows through the old town and divides it into two halves. Seven stone bridges connect the northern and southern districts. In spring the water level rises sharply after the snow melts in the mountains. The city council has built new flood walls along the eastern bank.",
"de": "Der Fluss fließt durch die Altstadt und teilt sie in zwei Hälften. Sieben Steinbrücken verbinden die nördlichen und südlichen Stadtteile. Im Frühling steigt der Wasserstand nach der Schneeschmelze in den Bergen stark an. Der Stadtrat hat entlang des Ostufers neue Hochwassermauern gebaut.",
"fr": "La rivière traverse la vieille ville et la divise en deux moitiés. Sept ponts en pierre relient les quartiers du nord et du sud. Au printemps, le niveau de l'eau monte fortement après la fonte des neiges dans les montagnes. Le conseil municipal a construit de nouveaux murs anti-crues le long de la rive est.",
},
"bakery": {
"en": "Our bakery opens every morning at six o'clock. We bake bread with flour from a mill in the next village. On Sundays we also sell apple cake and cheesecake. Please order large quantities at least two days in advance.",
"de": "Unsere Bäckerei öffnet jeden Morgen um sechs Uhr. Wir backen Brot mit Mehl aus einer Mühle im Nachbardorf. Sonntags verkaufen wir auch Apfelkuchen und Käsekuchen. Bitte bestellen Sie große Mengen mindestens zwei Tage im Voraus.",
"fr": "Notre boulangerie ouvre tous les matins à six heures. Nous faisons du pain avec de la farine d'un moulin du village voisin. Le dimanche, nous vendons aussi de la tarte aux pommes et du gâteau au fromage. Veuillez commander les grandes quantités au moins deux jours à l'avance.",
},
"museum": {
"en": "The museum has a large collection of paintings from the nineteenth century. Children under twelve years old enter for free. The café on the top floor offers a wonderful view over the harbour. Guided tours in several languages start every hour.",
"de": "Das Museum besitzt eine große Sammlung von Gemälden aus dem neunzehnten Jahrhundert. Kinder unter zwölf Jahren haben freien Eintritt. Das Café im obersten Stockwerk bietet einen wunderbaren Blick über den Hafen. Führungen in mehreren Sprachen beginnen jede Stunde.",
"fr": "Le musée possède une grande collection de tableaux du dix-neuvième siècle. L'entrée est gratuite pour les enfants de moins de douze ans. Le café du dernier étage offre une vue magnifique sur le port. Des visites guidées en plusieurs langues commencent toutes les heures.",
},
"train": {
"en": "The night train to Vienna leaves the central station at ten in the evening. Sleeping cars have beds for up to four passengers. Breakfast is served shortly before arrival. Bicycles can be taken along if you book a place for them.",
"de": "Der Nachtzug nach Wien verlässt den Hauptbahnhof um zehn Uhr abends. Schlafwagen haben Betten für bis zu vier Fahrgäste. Das Frühstück wird kurz vor der Ankunft serviert. Fahrräder können mitgenommen werden, wenn Sie einen Platz dafür buchen.",
"fr": "Le train de nuit pour Vienne quitte la gare centrale à dix heures du soir. Les voitures-lits disposent de couchettes pour quatre passagers au maximum. Le petit-déjeuner est servi peu avant l'arrivée. Les vélos peuvent être emportés si vous leur réservez une place.",
},
"garden": {
"en": "Tomatoes need plenty of sun and regular watering. Plant them outside only after the last frost. A layer of straw keeps the soil moist during hot summer days. Remove the side shoots every week so the plant puts its energy into the fruit.",
"de": "Tomaten brauchen viel Sonne und regelmäßiges Gießen. Pflanzen Sie sie erst nach dem letzten Frost ins Freie. Eine Schicht Stroh hält den Boden an heißen Sommertagen feucht. Entfernen Sie jede Woche die Seitentriebe, damit die Pflanze ihre Kraft in die Früchte steckt.",
"fr": "Les tomates ont besoin de beaucoup de soleil et d'un arrosage régulier. Ne les plantez dehors qu'après les dernières gelées. Une couche de paille garde le sol humide pendant les chaudes journées d'été. Retirez chaque semaine les gourmands pour que la plante concentre son énergie sur les fruits.",
},
}
# Pages that exist in one language only: the miner must not pair them with anything.
SINGLE = {
"en": ["The football club announced a new coach on Tuesday. He previously trained a team in the second division. Fans hope that the season will finally bring promotion.",
       "Our software update fixes a problem with printing large documents. Users should restart their computers after the installation. The next version will support dark mode.",
       "The hospital is looking for nurses for the night shift. Applicants should have at least two years of experience. Interviews will take place in early March.",
       "Heavy rain caused delays on several motorways this morning. Drivers were advised to reduce their speed. The weather service expects the storm to weaken by Friday.",
       "The university has opened a new laboratory for battery research. Twenty scientists from four countries work there. The project is funded for the next five years.",
       "Our hotel offers free parking for all guests. Pets are welcome in selected rooms. Check-out is possible until eleven in the morning."],
"de": ["Die Gemeinde plant einen neuen Radweg entlang der Landstraße. Die Bauarbeiten sollen im Herbst beginnen. Anwohner können ihre Meinung bis Ende des Monats äußern.",
       "Im Wald hinter dem Dorf leben viele Rehe und Füchse. Wanderer sollten auf den markierten Wegen bleiben. Hunde müssen an der Leine geführt werden.",
       "Der Chor sucht neue Stimmen für das Weihnachtskonzert. Die Proben finden jeden Donnerstag im Gemeindehaus statt. Notenkenntnisse sind nicht erforderlich.",
       "Die Preise für Heizöl sind im vergangenen Monat deutlich gestiegen. Viele Haushalte überlegen, auf Wärmepumpen umzusteigen. Der Staat fördert den Einbau mit Zuschüssen.",
       "Unsere Werkstatt repariert Fahrräder aller Marken. Kleine Reparaturen erledigen wir noch am selben Tag. Ersatzteile bestellen wir bei Bedarf direkt beim Hersteller.",
       "Das Schwimmbad bleibt wegen Wartungsarbeiten bis Mitte Juni geschlossen. Die Sauna ist weiterhin geöffnet. Jahreskarten werden um einen Monat verlängert."],
"fr": ["La bibliothèque municipale sera fermée pendant deux semaines pour des travaux. Les livres empruntés peuvent être rendus à la mairie. Une nouvelle salle de lecture ouvrira en janvier.",
       "Le festival de jazz accueille cette année des musiciens venus de douze pays. Les concerts ont lieu en plein air sur la place du marché. Les billets sont en vente à l'office de tourisme.",
       "La fromagerie du village produit un fromage de chèvre très apprécié. Les visiteurs peuvent assister à la traite le samedi matin. Une boutique vend les produits de la ferme.",
       "Les élections régionales auront lieu au mois de juin. Trois candidats se sont déjà déclarés. Le débat télévisé est prévu pour la fin du mois de mai.",
       "Notre agence immobilière propose des appartements à louer en centre-ville. La plupart disposent d'un balcon et d'une cave. Les visites se font uniquement sur rendez-vous.",
       "Le club de voile organise des stages pour débutants pendant l'été. Les enfants doivent savoir nager. Le matériel est fourni par le club."],
}
BOILERPLATE = {"en": "Cookie settings | Privacy policy | Contact", "de": "Cookie-Einstellungen | Datenschutz | Kontakt", "fr": "Paramètres des cookies | Confidentialité | Contact"}
