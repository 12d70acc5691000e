"""A small labelled set for retrieval: the FAQ and manuals of an imaginary tea shop, in English and
Chinese, and questions each answered by exactly one document (by title). Questions are worded
unlike their documents on purpose, as customers ask them."""
from __future__ import annotations

DOCUMENTS: list[tuple[str, str]] = [
    ("Opening hours", "# Opening hours\n\nOur shop on Elm Street is open Monday to Friday from 9:00 to 18:00, "
     "Saturday from 10:00 to 16:00, and closed on Sundays and public holidays."),
    ("Return policy", "# Returns\n\nUnopened products can be returned within 30 days of delivery for a full refund. "
     "Opened tea cannot be returned unless it arrived damaged. Send the parcel back with the return form."),
    ("Shipping costs", "# Shipping\n\nDelivery within the country costs 4.90 EUR and is free for orders above 40 EUR. "
     "International shipping is charged by weight at checkout."),
    ("Delivery times", "# Delivery times\n\nOrders placed before 14:00 leave our warehouse the same day. Domestic "
     "parcels usually arrive in 2 to 3 working days, international parcels in 5 to 10."),
    ("Payment methods", "# Paying\n\nWe accept Visa, Mastercard, PayPal and bank transfer. Invoices for companies "
     "are payable within 14 days."),
    ("Green tea brewing", "# Brewing green tea\n\nUse water at 75 to 80 degrees Celsius, never boiling, and steep "
     "the leaves for two minutes. Longer steeping makes green tea bitter."),
    ("Black tea brewing", "# Brewing black tea\n\nPour freshly boiled water over the leaves and steep for four to "
     "five minutes. Add milk after steeping if you like."),
    ("Kettle manual: descaling", "# Descaling the kettle\n\nWhen the limescale light blinks, fill the kettle with "
     "one part vinegar and two parts water, boil it, leave it for an hour and rinse twice."),
    ("Kettle manual: temperature settings", "# Temperature buttons\n\nThe Brightleaf kettle has buttons for 70, "
     "80, 90 and 100 degrees. Hold the keep-warm button for three seconds to keep water hot for 30 minutes."),
    ("Kettle warranty", "# Warranty\n\nThe kettle is covered by a two-year warranty against manufacturing defects. "
     "Keep your receipt; damage from dropping it is not covered."),
    ("Gift cards", "# Gift cards\n\nGift cards are sold in values of 20, 50 and 100 EUR, are valid for three years "
     "and can be used online and in the shop."),
    ("Loyalty programme", "# Leaf points\n\nMembers collect one leaf point per euro spent. 100 points give a 5 EUR "
     "voucher. Joining is free at the counter or in your online account."),
    ("Wholesale", "# Wholesale for cafes\n\nCafes and restaurants can buy in bulk from 5 kg per variety with a 20 "
     "percent discount. Write to our trade team for a price list."),
    ("Allergens", "# Allergens\n\nOur flavoured blends are packed in a facility that also handles nuts. Pure "
     "teas contain no added allergens."),
    ("Caffeine content", "# Caffeine\n\nA cup of black tea holds about 40 to 70 mg of caffeine, green tea 20 to 45 "
     "mg. Herbal infusions such as rooibos and chamomile are caffeine free."),
    ("Storing tea", "# Storage\n\nKeep tea in an airtight tin away from light, heat and strong smells. Green tea "
     "stays fresh for about a year, black tea for two."),
    ("Tea tasting events", "# Tastings\n\nEvery first Thursday of the month we hold a tasting evening at 19:00. "
     "Seats cost 15 EUR and must be booked in advance."),
    ("Account and password", "# Your account\n\nIf you forgot your password, use the reset link on the login page; "
     "the email arrives within a few minutes. Check your spam folder."),
    ("营业时间", "# 营业时间\n\n我们的上海门店周一至周五上午十点开门，晚上八点关门；周末营业时间为上午十一点到晚上六点。"),
    ("退货政策", "# 退货\n\n未开封的商品在收货后七天内可以无理由退货，退款会在三个工作日内原路返回。已开封的茶叶不支持退货。"),
    ("运费说明", "# 运费\n\n国内订单满九十九元包邮，不满九十九元收取十元运费。偏远地区需要另外加收运费。"),
    ("绿茶冲泡方法", "# 绿茶冲泡\n\n冲泡绿茶时水温以八十度左右为宜，不要用沸水。第一泡浸泡一分钟即可出汤。"),
    ("普洱茶介绍", "# 普洱茶\n\n普洱茶产自云南，分为生茶和熟茶。熟茶口感醇厚，适合秋冬饮用；生茶可以长期存放，越陈越香。"),
    ("会员积分", "# 会员积分\n\n每消费一元累积一个积分，满五百积分可以兑换五十元优惠券。积分有效期为两年。"),
    ("发票开具", "# 发票\n\n下单时可以填写发票抬头和税号，电子发票会在发货后发送到您的邮箱。"),
    ("电水壶除垢", "# 除垢\n\n电水壶使用一段时间后会产生水垢。可以加入白醋和清水煮沸，静置一小时后倒掉，再用清水冲洗两遍。"),
    ("电水壶保修", "# 保修\n\n电水壶享受两年免费保修，人为摔坏不在保修范围内，请保留购物小票。"),
    ("礼品卡", "# 礼品卡\n\n礼品卡面值有一百元、二百元和五百元三种，有效期三年，线上线下都可以使用。"),
    ("企业团购", "# 团购\n\n企业团购满五十份可以享受八五折优惠，并可以定制礼盒和贺卡，请联系客服获取报价。"),
    ("茶叶保存", "# 保存\n\n茶叶应放在密封罐中，避光、防潮、远离异味。绿茶最好放在冰箱冷藏保存。"),
]

QUESTIONS: list[tuple[str, str]] = [
    ("When are you open on Saturday?", "Opening hours"),
    ("Is the shop open on Sundays?", "Opening hours"),
    ("Can I send back tea I ordered if it is still sealed?", "Return policy"),
    ("How much does shipping cost?", "Shipping costs"),
    ("How long does a parcel take to arrive?", "Delivery times"),
    ("Do you accept PayPal?", "Payment methods"),
    ("What water temperature for green tea?", "Green tea brewing"),
    ("How long should I steep black tea?", "Black tea brewing"),
    ("The limescale light on my kettle is blinking, what do I do?", "Kettle manual: descaling"),
    ("How do I keep the water warm in the kettle?", "Kettle manual: temperature settings"),
    ("My kettle broke after a year, is it under warranty?", "Kettle warranty"),
    ("How long is a gift card valid?", "Gift cards"),
    ("How do leaf points work?", "Loyalty programme"),
    ("Do you sell in bulk to cafes?", "Wholesale"),
    ("Do your blends contain nuts?", "Allergens"),
    ("How much caffeine is in green tea?", "Caffeine content"),
    ("How should I store my tea?", "Storing tea"),
    ("When is the next tasting evening?", "Tea tasting events"),
    ("I forgot my password", "Account and password"),
    ("你们几点开门？", "营业时间"),
    ("周末营业吗", "营业时间"),
    ("没开封的茶叶可以退货吗？", "退货政策"),
    ("运费怎么算？", "运费说明"),
    ("泡绿茶用多少度的水？", "绿茶冲泡方法"),
    ("普洱生茶和熟茶有什么区别？", "普洱茶介绍"),
    ("积分可以兑换什么？", "会员积分"),
    ("怎么开发票？", "发票开具"),
    ("水壶里有水垢怎么办？", "电水壶除垢"),
    ("水壶坏了可以保修吗", "电水壶保修"),
    ("礼品卡有效期多久？", "礼品卡"),
    ("公司团购有折扣吗？", "企业团购"),
    ("茶叶怎么保存比较好？", "茶叶保存"),
]

UNRELATED: list[str] = [
    "What is the capital of Australia?",
    "Who won the football match yesterday?",
    "明天北京会下雨吗？",
]


def load(db, settings, embedder, space: str = "shop", owner: str = "test") -> None:   # noqa: ANN001
    """Every document into `space` and indexed, as the worker pool would (no web request)."""
    from smartbot.knowledge import store
    from smartbot.knowledge.indexer import Indexer

    with db.write() as conn:
        if store.get_space(conn, space) is None:
            store.add_space(conn, space, "", 0.25)
        space_id = store.get_space(conn, space).id
        ids = [store.put_document(conn, space_id, {"title": title, "url": "", "kind": "md", "size": len(text),
                                                   "text": text, "content": None, "added_by": "test"})
               for title, text in DOCUMENTS]
    indexer = Indexer(db, settings, embedder, owner, 60.0)
    for document_id in ids:
        assert indexer.index(document_id)


def recall_at(db, settings, embedder, k: int = 5, space: str = "shop", questions=None) -> float:   # noqa: ANN001
    """The share of `questions` (QUESTIONS) whose answering document is among the first k chunks found."""
    questions = QUESTIONS if questions is None else questions
    from smartbot.knowledge import retrieve

    hits = 0
    for question, title in questions:
        found = retrieve(db, settings, [space], question, limit=k, embedder=embedder)
        hits += any(f.title == title for f in found)
    return hits / len(questions)


# Questions that share no useful word with their answer: full-text search alone misses them, an
# embeddings model (tests/support/fake_embeddings.py in miniature) finds them.
PARAPHRASES: list[tuple[str, str]] = [
    ("What does postage come to?", "Shipping costs"),
    ("Is there a guarantee on the appliance?", "Kettle warranty"),
    ("How do I get rid of calcium deposits?", "Kettle manual: descaling"),
    ("快递费怎么收？", "运费说明"),
    ("售后保障怎么样？", "电水壶保修"),
]
