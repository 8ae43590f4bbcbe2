-- placeholder: the settings service defines its tables here
SELECT 1;
