"""Column names of the causal analysis table."""

HIGH_RATING = "high_rating"
POPULAR = "popular"
GENRE_MATCH = "genre_match"
RECENT = "recent"
IN_TOP10 = "in_top10"
MODEL_SCORE = "model_score"

ITEM_YEAR = "item_year"
GENRE_COUNT = "genre_count"
ITEM_PRIOR_RATINGS = "item_prior_ratings"
USER_AGE = "user_age"
USER_MALE = "user_male"
USER_ACTIVITY = "user_activity"
RATING_YEAR = "rating_year"

AGE_BAND = "age_band"
SEGMENT_GENDER = "gender"
SEGMENT_OCCUPATION = "occupation"
SEGMENT_COLUMNS = (AGE_BAND, SEGMENT_GENDER, SEGMENT_OCCUPATION)
