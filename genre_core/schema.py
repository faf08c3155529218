"""Column names shared by loaders, splits, models, metrics and pages."""

USER_ID = "user_id"
ITEM_ID = "item_id"
RATING = "rating"
TIMESTAMP = "timestamp"

TITLE = "title"
YEAR = "year"
GENRES = "genres"

# Paths of an item's picture and sound files; a blank cell means the item lacks that modality.
IMAGE_PATH = "image_path"
AUDIO_PATH = "audio_path"

AGE = "age"
GENDER = "gender"
OCCUPATION = "occupation"

# Multi-label cells (an item's genres) are stored as one string joined by this.
MULTILABEL_SEPARATOR = "|"

INTERACTION_COLUMNS = (USER_ID, ITEM_ID, RATING, TIMESTAMP)
