"""Column names shared by loaders, splits, models, metrics and pages."""

USER_ID = "user_id"
ITEM_ID = "item_id"
RATING = "rating"
TIMESTAMP = "timestamp"

TITLE = "title"
YEAR = "year"
GENRES = "genres"

AGE = "age"
GENDER = "gender"
OCCUPATION = "occupation"

# Multi-label cells (an item's genres) are stored as one string joined by this.
MULTILABEL_SEPARATOR = "|"

INTERACTION_COLUMNS = (USER_ID, ITEM_ID, RATING, TIMESTAMP)
