"""A synthetic crawl in the 15 languages of the default encoder (muse): the same five sentences about a library,
translated into each language, on one page per language and site, plus untranslated pages that give each
language sentences of its own. Written here (not in ../shared) so that tests of many languages run on a fresh
clone."""
from __future__ import annotations

from pathlib import Path

from parabeam.transforms.dedup import normalise
from tests.faults.make_faults import WARCINFO, warc_record

LIBRARY = {
    "en": ["The city library opens at nine o'clock every morning.",
           "Children can borrow up to five books at a time.",
           "The new reading room on the second floor has large windows.",
           "On Sundays the library is closed for cleaning.",
           "Volunteers teach older people how to use computers there."],
    "de": ["Die Stadtbibliothek öffnet jeden Morgen um neun Uhr.",
           "Kinder können bis zu fünf Bücher auf einmal ausleihen.",
           "Der neue Lesesaal im zweiten Stock hat große Fenster.",
           "Sonntags ist die Bibliothek zum Putzen geschlossen.",
           "Dort bringen Freiwillige älteren Menschen den Umgang mit Computern bei."],
    "fr": ["La bibliothèque municipale ouvre chaque matin à neuf heures.",
           "Les enfants peuvent emprunter jusqu'à cinq livres à la fois.",
           "La nouvelle salle de lecture au deuxième étage a de grandes fenêtres.",
           "Le dimanche, la bibliothèque est fermée pour le nettoyage.",
           "Des bénévoles y apprennent aux personnes âgées à utiliser un ordinateur."],
    "es": ["La biblioteca municipal abre todas las mañanas a las nueve.",
           "Los niños pueden tomar prestados hasta cinco libros a la vez.",
           "La nueva sala de lectura del segundo piso tiene ventanas grandes.",
           "Los domingos la biblioteca cierra por limpieza.",
           "Allí los voluntarios enseñan a las personas mayores a usar ordenadores."],
    "it": ["La biblioteca comunale apre ogni mattina alle nove.",
           "I bambini possono prendere in prestito fino a cinque libri alla volta.",
           "La nuova sala di lettura al secondo piano ha grandi finestre.",
           "La domenica la biblioteca è chiusa per le pulizie.",
           "Lì i volontari insegnano agli anziani a usare il computer."],
    "pt": ["A biblioteca municipal abre todas as manhãs às nove horas.",
           "As crianças podem levar emprestados até cinco livros de cada vez.",
           "A nova sala de leitura no segundo andar tem janelas grandes.",
           "Aos domingos, a biblioteca não abre porque é o dia da limpeza.",
           "Lá, voluntários ensinam os idosos a usar computadores."],
    "nl": ["De stadsbibliotheek gaat elke ochtend om negen uur open.",
           "Kinderen mogen tot vijf boeken tegelijk lenen.",
           "De nieuwe leeszaal op de tweede verdieping heeft grote ramen.",
           "Op zondag is de bibliotheek gesloten voor de schoonmaak.",
           "Vrijwilligers leren ouderen daar hoe ze een computer gebruiken."],
    "pl": ["Biblioteka miejska jest otwierana codziennie rano o dziewiątej.",
           "Dzieci mogą wypożyczyć jednocześnie do pięciu książek.",
           "Nowa czytelnia na drugim piętrze ma duże okna.",
           "W niedziele biblioteka jest zamknięta z powodu sprzątania.",
           "Wolontariusze uczą tam starsze osoby obsługi komputera."],
    "ru": ["Городская библиотека открывается каждое утро в девять часов.",
           "Дети могут брать до пяти книг за один раз.",
           "В новом читальном зале на втором этаже большие окна.",
           "По воскресеньям библиотека закрыта на уборку.",
           "Там волонтёры учат пожилых людей пользоваться компьютером."],
    "tr": ["Şehir kütüphanesi her sabah saat dokuzda açılır.",
           "Çocuklar bir seferde en fazla beş kitap ödünç alabilir.",
           "İkinci kattaki yeni okuma salonunun büyük pencereleri var.",
           "Pazar günleri kütüphane temizlik için kapalıdır.",
           "Orada gönüllüler yaşlılara bilgisayar kullanmayı öğretiyor."],
    "ar": ["تفتح مكتبة المدينة أبوابها كل صباح في الساعة التاسعة.",
           "يمكن للأطفال استعارة ما يصل إلى خمسة كتب في المرة الواحدة.",
           "قاعة القراءة الجديدة في الطابق الثاني لها نوافذ كبيرة.",
           "تغلق المكتبة أيام الأحد من أجل التنظيف.",
           "هناك يعلّم المتطوعون كبار السن كيفية استخدام الحاسوب."],
    "zh": ["市图书馆每天早上九点开门。",
           "孩子们一次最多可以借五本书。",
           "二楼新的阅览室有很大的窗户。",
           "每逢星期日，图书馆闭馆进行清洁。",
           "志愿者在那里教老年人如何使用电脑。"],
    "ja": ["市立図書館は毎朝九時に開館します。",
           "子どもは一度に五冊まで本を借りることができます。",
           "二階の新しい閲覧室には大きな窓があります。",
           "日曜日は清掃のため図書館は休館です。",
           "そこではボランティアが高齢者にパソコンの使い方を教えています。"],
    "ko": ["시립 도서관은 매일 아침 아홉 시에 문을 엽니다.",
           "어린이는 한 번에 최대 다섯 권까지 책을 빌릴 수 있습니다.",
           "2층에 있는 새 열람실에는 큰 창문이 있습니다.",
           "일요일에는 청소를 위해 도서관이 문을 닫습니다.",
           "그곳에서 자원봉사자들이 노인들에게 컴퓨터 사용법을 가르칩니다."],
    "th": ["ห้องสมุดเมืองเปิดทุกเช้าเวลาเก้านาฬิกา",
           "เด็กสามารถยืมหนังสือได้ครั้งละไม่เกินห้าเล่ม",
           "ห้องอ่านหนังสือใหม่ที่ชั้นสองมีหน้าต่างบานใหญ่",
           "ในวันอาทิตย์ห้องสมุดปิดเพื่อทำความสะอาด",
           "อาสาสมัครสอนผู้สูงอายุให้ใช้คอมพิวเตอร์ที่นั่น"],
}
LANGS = tuple(sorted(LIBRARY))
ALL_PAIRS = len(LANGS) * (len(LANGS) - 1) // 2


def library_pairs(src: str, tgt: str) -> set[tuple[str, str]]:
    """The planted translations between two languages, as the sentence store keeps them (normalised)."""
    return {(normalise(s), normalise(t)) for s, t in zip(LIBRARY[src], LIBRARY[tgt])}


def write_crawl(folder: Path, shards: int = 3) -> str:
    """The library pages of every language spread over `shards` WET files -> their glob pattern."""
    folder.mkdir(parents=True, exist_ok=True)
    pages = [(f"http://library-{lang}.example/{lang}/index.html", "\n".join(LIBRARY[lang])) for lang in LANGS]
    for shard in range(shards):
        records = [WARCINFO] + [warc_record(url, text.encode()) for url, text in pages[shard::shards]]
        (folder / f"shard-{shard}.warc.wet").write_bytes(b"".join(records))
    return str(folder / "*.warc.wet")
